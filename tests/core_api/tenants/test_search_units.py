"""Search keys and geometry without a database."""

from __future__ import annotations

import pytest

from core_api.tenants.search import fold, haversine_km, point_in_polygon


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Rajpur Road!", "rajpur road"),
        ("  RAAJPUR ", "rajpur"),
        ("Rajpoor", "rajpur"),
        ("Sahashtradhara", "sahastradhara"),
        ("Clock-Tower, Dehradun", "clok tover dehradun"),
        ("Dehradūn", "dehradun"),  # IAST accents typed on a phone
        ("राजपुर", "राजपुर"),  # vowel signs stay inside the word
        ("नेहरू कॉलोनी", "नेहरू कॉलोनी"),
        ("पलटन बाज़ार", "पलटन बाजार"),  # nukta or not: the same place
        ("कौलागढ़", "कौलागढ"),
        ("हर की पौड़ी।", "हर की पौडी"),  # danda is punctuation
        ("ਰਾਜਪੁਰ", "ਰਾਜਪੁਰ"),
        ("ରାଜପୁର", "ରାଜପୁର"),
        ("ＲＡＪＰＵＲ", "rajpur"),  # full-width letters
        ("!!! ...", ""),
        ("", ""),
    ],
)
def test_fold(text, key):
    assert fold(text) == key


def test_fold_makes_spelling_variants_equal():
    assert fold("पलटन बाज़ार") == fold("पलटन बाजार")
    assert fold("Jakhan  Chowk") == fold("jakhan chowk")
    assert fold("Raipur") != fold("Rajpur")
    assert fold("रायपुर") != fold("राजपुर")


# A square around Rajpur's centre, as [lng, lat] pairs, and a concave "L" shape.
SQUARE = [[78.08, 30.37], [78.10, 30.37], [78.10, 30.39], [78.08, 30.39]]
L_SHAPE = [[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]]


@pytest.mark.parametrize(
    ("lat", "lng", "polygon", "inside"),
    [
        (30.378, 78.089, SQUARE, True),
        (30.3701, 78.0999, SQUARE, True),  # near a corner, inside
        (30.369, 78.089, SQUARE, False),  # just south
        (30.378, 78.101, SQUARE, False),  # just east
        (30.378, 78.089, [*SQUARE, SQUARE[0]], True),  # closed ring
        (0.5, 0.5, L_SHAPE, True),
        (1.5, 0.5, L_SHAPE, True),  # lat 1.5 in the upright bar
        (1.5, 1.5, L_SHAPE, False),  # the notch of the L
        (0.5, 1.5, L_SHAPE, True),
        (3.0, 3.0, L_SHAPE, False),
        (1.0, 1.0, [], False),
    ],
)
def test_point_in_polygon(lat, lng, polygon, inside):
    assert point_in_polygon(lat, lng, polygon) is inside


def test_haversine_km():
    assert haversine_km(30.378, 78.089, 30.378, 78.089) == 0.0
    # Dehradun clock tower to Haridwar's Har Ki Pauri: about 41 km as the crow flies.
    assert 38 < haversine_km(30.3223, 78.0413, 29.9563, 78.1704) < 44
    # One degree of latitude is about 111 km.
    assert haversine_km(30.0, 78.0, 31.0, 78.0) == pytest.approx(111.2, abs=0.2)
