-- Components are workflows or activities; the host tells them apart by the
-- world they implement when they are pushed.
ALTER TABLE components ADD COLUMN kind TEXT NOT NULL DEFAULT 'workflow';
