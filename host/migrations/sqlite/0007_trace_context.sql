-- The W3C traceparent of the span that started a workflow (an API request
-- or the parent's run), so that every run joins that trace.
ALTER TABLE workflows ADD COLUMN trace_parent TEXT;
