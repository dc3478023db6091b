"""playwire.jsonlib: orjson where it can, the standard library where orjson refuses."""

from __future__ import annotations

from playwire import jsonlib


def test_jsonlib_handles_what_orjson_refuses():
    assert jsonlib.loads('{"big": 1180591620717411303424, "max": 18446744073709551615}') == {
        "big": 2.0**70,
        "max": 2**64 - 1,
    }
    assert jsonlib.loads('{"nan": NaN}')["nan"] != jsonlib.loads('{"nan": NaN}')["nan"]
    assert jsonlib.dumps({"a": [1, "é"]}, separators=(",", ":")) == '{"a":[1,"é"]}'
    assert jsonlib.encoded_size({"big": 2**70}) == len('{"big":1180591620717411303424}')
