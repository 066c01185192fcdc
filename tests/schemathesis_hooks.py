"""schemathesis hooks for tests/openapi.rs (loaded through SCHEMATHESIS_HOOKS).

They say what the OpenAPI document cannot say in JSON schema terms.

A signal name or event key (format `duro-name`) is 1 to 256 bytes of UTF-8,
while `maxLength` counts characters: valid ones are drawn from strings that
surely fit, up to 64 characters of any kind or up to 256 ASCII characters.

A component upload (`application/wasm`, on `POST /v1/components` and
`POST /v1/workflows/{id}/replay`) is valid only when its bytes are a workflow
or activity component, which a JSON schema cannot say of binary data. So the
bodies schemathesis sends as `application/wasm` are drawn from the real
components the test names in DURO_COMPONENT_SAMPLES (paths joined with the
platform's path separator). Bytes that are not a component are refused with
400 `invalid_component`; tests/api.rs and tests/openapi.rs send those.

A schedule's cron expression (format `duro-cron`) and time zone (format
`iana-time-zone`) are valid only when croner parses them and the tz
database knows them: valid ones are drawn from samples. tests/schedules.rs
sends invalid ones.
"""

import os

import schemathesis
from hypothesis import strategies as st

_samples = []
for _path in os.environ["DURO_COMPONENT_SAMPLES"].split(os.pathsep):
    with open(_path, "rb") as _file:
        _samples.append(_file.read())

schemathesis.openapi.media_type("application/wasm", st.sampled_from(_samples))

_MAX_NAME_BYTES = 256
schemathesis.openapi.format(
    "duro-name",
    st.one_of(
        st.text(min_size=1, max_size=_MAX_NAME_BYTES // 4),
        st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=_MAX_NAME_BYTES),
    ),
)

schemathesis.openapi.format(
    "duro-cron",
    st.sampled_from(["0 2 * * *", "*/5 * * * *", "30 1 * * MON-FRI", "0 0 1 * *", "15 10 * * * *", "0 12 L * *"]),
)
schemathesis.openapi.format(
    "iana-time-zone",
    st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]),
)
