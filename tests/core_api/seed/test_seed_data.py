"""Sanity checks for the demo reference data in core_api/seed/data/."""

import math
import re
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).resolve().parents[3] / "core_api" / "seed" / "data"

ULB_CODES = {"uk.dehradun", "uk.haridwar", "uk.rishikesh", "uk.haldwani", "uk.roorkee"}
MAX_TITLE = 24  # WhatsApp list row title limit

# A name in a script: at least one letter of the script, and nothing from any
# other script (spaces, digits and light punctuation are allowed).
_PUNCT = r"\s0-9\-/:'.,()"
SCRIPTS = {
    "name_hi": "\u0900-\u097F",  # Devanagari
    "name_pa": "\u0A00-\u0A7F",  # Gurmukhi
    "name_or": "\u0B00-\u0B7F",  # Odia
}


def _in_script(text, block):
    return bool(re.fullmatch(f"[{block}{_PUNCT}]+", text)) and bool(re.search(f"[{block}]", text))


def _load(name):
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _haversine_km(lat1, lng1, lat2, lng2):
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def _localities(ulb):
    for zone in ulb["zones"]:
        for ward in zone["wards"]:
            yield from ward["localities"]


def test_boundaries_ulbs_present():
    data = _load("boundaries.yaml")
    assert data["state"]["code"] == "uk"
    assert _in_script(data["state"]["name_hi"], SCRIPTS["name_hi"])
    codes = [u["code"] for u in data["ulbs"]]
    assert set(codes) == ULB_CODES
    assert len(codes) == len(set(codes))
    id_codes = [u["id_code"] for u in data["ulbs"]]
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in id_codes)
    assert len(id_codes) == len(set(id_codes))
    for ulb in data["ulbs"]:
        assert _in_script(ulb["name_hi"], SCRIPTS["name_hi"])
        assert _in_script(ulb["short_hi"], SCRIPTS["name_hi"])
        assert ulb["short_en"] and ulb["name_en"]


def test_boundaries_structure_and_codes():
    data = _load("boundaries.yaml")
    seen = set()
    for ulb in data["ulbs"]:
        zones = ulb["zones"]
        wards = [w for z in zones for w in z["wards"]]
        assert 1 <= len(zones)
        assert len(wards) >= 2
        for zone in zones:
            assert zone["code"].startswith(ulb["code"] + ".")
            for ward in zone["wards"]:
                assert ward["code"].startswith(zone["code"] + ".")
                assert ward["localities"], ward["code"]
        for code in [ulb["code"]] + [z["code"] for z in zones] + [w["code"] for w in wards]:
            assert code not in seen, code
            seen.add(code)
        locs = list(_localities(ulb))
        assert len(locs) >= 6, ulb["code"]
        for loc in locs:
            assert loc["code"].startswith(ulb["code"] + "."), loc["code"]
            assert loc["code"] not in seen, loc["code"]
            seen.add(loc["code"])


def test_localities_names_and_coordinates():
    data = _load("boundaries.yaml")
    for ulb in data["ulbs"]:
        c_lat, c_lng = ulb["center"]["lat"], ulb["center"]["lng"]
        points = set()
        for loc in _localities(ulb):
            code = loc["code"]
            assert loc["name_en"], code
            for key, block in SCRIPTS.items():
                assert _in_script(loc[key], block), (code, key, loc[key])
            aliases = loc["aliases"]
            assert 2 <= len(aliases) <= 4, code
            assert all(a == a.lower() and a.isascii() for a in aliases), code
            lat, lng = loc["lat"], loc["lng"]
            assert 28.7 <= lat <= 31.5 and 77.5 <= lng <= 81.1, code
            assert _haversine_km(c_lat, c_lng, lat, lng) <= 25, code
            assert (lat, lng) not in points, code
            points.add((lat, lng))


def test_dehradun_details():
    data = _load("boundaries.yaml")
    ddn = next(u for u in data["ulbs"] if u["code"] == "uk.dehradun")
    locs = list(_localities(ddn))
    assert len(locs) >= 14
    assert len(ddn["zones"]) >= 2
    assert sum(len(z["wards"]) for z in ddn["zones"]) >= 4
    rajpur = [loc for loc in locs if loc["name_en"] == "Rajpur"]
    assert len(rajpur) == 1
    assert rajpur[0]["name_hi"] == "राजपुर"


def test_departments():
    data = _load("complaint_types.yaml")
    codes = [d["code"] for d in data["departments"]]
    assert len(codes) == len(set(codes))
    for dept in data["departments"]:
        assert dept["name_en"]
        for key, block in SCRIPTS.items():
            assert _in_script(dept[key], block), (dept["code"], key)


def test_complaint_types():
    data = _load("complaint_types.yaml")
    departments = {d["code"] for d in data["departments"]}
    categories = data["categories"]
    assert 10 <= len(categories) <= 12
    subtypes = [s for c in categories for s in c["subtypes"]]
    assert 25 <= len(subtypes) <= 35

    cat_codes = [c["code"] for c in categories]
    sub_codes = [s["code"] for s in subtypes]
    assert len(cat_codes) == len(set(cat_codes))
    assert len(sub_codes) == len(set(sub_codes))

    for item in categories + subtypes:
        code = item["code"]
        assert re.fullmatch(r"[A-Z][A-Za-z]+", code), code
        assert item["name_en"].isascii(), code
        for key in ("name_en", "name_hi", "name_pa", "name_or"):
            assert 0 < len(item[key]) <= MAX_TITLE, (code, key, item[key])
        for key, block in SCRIPTS.items():
            assert _in_script(item[key], block), (code, key, item[key])

    for sub in subtypes:
        code = sub["code"]
        assert sub["department"] in departments, code
        assert isinstance(sub["sla_hours"], int) and sub["sla_hours"] > 0, code
        assert sub["keywords_en"] and all(k.isascii() for k in sub["keywords_en"]), code
        assert sub["keywords_hinglish"] and all(k.isascii() for k in sub["keywords_hinglish"]), code
        assert sub["keywords_hi"], code
        assert all(_in_script(k, SCRIPTS["name_hi"]) for k in sub["keywords_hi"]), code
        assert sub["keywords_pa_latn"] and all(k.isascii() for k in sub["keywords_pa_latn"]), code
        for lang in ("pa", "or"):  # Punjabi in Gurmukhi, Odia
            words = sub[f"keywords_{lang}"]
            assert words and all(_in_script(k, SCRIPTS[f"name_{lang}"]) for k in words), code
