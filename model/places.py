"""Country and region names as articles write them, mapped to short English names.

Countries come from the ``countryinfo`` package (names, alternative spellings,
demonyms, capitals and provinces). What it lacks is small and kept here: the
regions journalists name ("Southeast Asia", "the Gulf") and a few everyday
forms ("Britain", "Saudi"). :func:`place_index` maps a surface form, exactly
as capitalised in text, to a :class:`Place`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from countryinfo import all_countries

#: How a form names its place: the name itself, the people or adjective
#: ("Japanese"), or a city or province inside it ("Tokyo").
NAME, DEMONYM, CITY = 0, 1, 2

# Regions as the labelling rules write them, with the forms that name them.
_REGIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Europe": (("Europe", "EU", "European Union"), ("European",)),
    "Asia": (("Asia",), ("Asian",)),
    "Africa": (("Africa",), ("African",)),
    "North America": (("North America",), ("North American",)),
    "South America": (("South America",), ("South American",)),
    "Latin America": (("Latin America",), ("Latin American",)),
    "Central America": (("Central America",), ("Central American",)),
    "Middle East": (("Middle East",), ("Middle Eastern",)),
    "Southeast Asia": (("Southeast Asia", "South-East Asia", "South East Asia"), ("Southeast Asian",)),
    "East Asia": (("East Asia",), ("East Asian",)),
    "South Asia": (("South Asia",), ("South Asian",)),
    "Central Asia": (("Central Asia",), ()),
    "Asia-Pacific": (("Asia-Pacific", "Asia Pacific", "APAC"), ()),
    "Gulf": (("Gulf", "GCC"), ()),
    "Nordics": (("Nordics", "Scandinavia"), ("Nordic", "Scandinavian")),
    "Balkans": (("Balkans",), ("Balkan",)),
    "Baltics": (("Baltics",), ("Baltic",)),
    "Caribbean": (("Caribbean",), ()),
    "East Africa": (("East Africa",), ("East African",)),
    "West Africa": (("West Africa",), ("West African",)),
    "North Africa": (("North Africa",), ("North African",)),
    "Central Europe": (("Central Europe",), ("Central European",)),
    "Eastern Europe": (("Eastern Europe",), ("Eastern European",)),
    "Oceania": (("Oceania",), ()),
}
# Which countries a region holds: countryinfo's region or subregion names,
# or the members where it has no grouping (the Gulf, the Nordics, the Baltics).
_MEMBERS: dict[str, tuple[str, ...]] = {
    "Europe": ("region:Europe",),
    "Asia": ("region:Asia",),
    "Africa": ("region:Africa",),
    "Oceania": ("region:Oceania",),
    "Asia-Pacific": ("region:Asia", "region:Oceania"),
    "North America": ("subregion:Northern America",),
    "South America": ("subregion:Latin America and the Caribbean",),
    "Latin America": ("subregion:Latin America and the Caribbean",),
    "Central America": ("subregion:Latin America and the Caribbean",),
    "Caribbean": ("subregion:Latin America and the Caribbean",),
    "Middle East": ("subregion:Western Asia",),
    "Southeast Asia": ("subregion:South-eastern Asia", "subregion:South-Eastern Asia"),
    "East Asia": ("subregion:Eastern Asia",),
    "South Asia": ("subregion:Southern Asia",),
    "Central Asia": ("subregion:Central Asia",),
    "North Africa": ("subregion:Northern Africa",),
    "Central Europe": ("subregion:Eastern Europe",),
    "Eastern Europe": ("subregion:Eastern Europe",),
    "Gulf": ("Saudi Arabia", "United Arab Emirates", "Qatar", "Kuwait", "Bahrain", "Oman"),
    "Nordics": ("Denmark", "Finland", "Iceland", "Norway", "Sweden"),
    "Baltics": ("Estonia", "Latvia", "Lithuania"),
}
# Everyday forms countryinfo does not list, by the country's countryinfo name.
_EXTRA_FORMS: dict[str, tuple[tuple[str, int], ...]] = {
    "United Kingdom": (("UK", NAME), ("U.K.", NAME), ("Britain", NAME), ("England", NAME)),
    "United States": (("US", NAME), ("U.S.", NAME), ("USA", NAME), ("America", NAME)),
    "Saudi Arabia": (("Saudi", DEMONYM),),
    "United Arab Emirates": (("UAE", NAME), ("U.A.E.", NAME), ("Emirates", NAME)),
    "South Korea": (("Korea", NAME), ("Korean", DEMONYM)),
    "Netherlands": (("Dutch", DEMONYM),),
    "Czech Republic": (("Czechia", NAME),),
    "Philippines": (("Filipino", DEMONYM), ("Philippine", DEMONYM)),
    "New Zealand": (("Kiwi", DEMONYM),),
}
# Short names the labelling rules use where countryinfo's differs.
_SHORT_NAMES = {"Republic of Macedonia": "North Macedonia"}
_PAREN = re.compile(r"^(.*?)\s*\((.*?)\)$")


@dataclass(frozen=True, slots=True)
class Place:
    """A country or region (``name``, short English) and how a form names it (``kind``)."""

    name: str
    kind: int
    is_region: bool = False


def _usable(form: str) -> bool:
    # Codes such as "CAN" or "IT" read as words in text; only spelled-out forms
    # and the abbreviations in everyday use (added above) are kept.
    return len(form) > 3 and form[0].isupper() and not form.isupper()


@functools.cache
def place_index() -> dict[str, Place]:
    """Surface form (as capitalised in text) -> place. Built once per process."""
    index: dict[str, Place] = {}
    population: dict[str, int] = {}
    cities: dict[str, tuple[int, int, Place]] = {}  # form -> (rank, -population, place)

    def put(form: str, place: Place, people: int) -> None:
        # A form shared by several countries ("Congolese") goes to the one it
        # names rather than describes, then to the most populous.
        current = index.get(form)
        if current is None or (place.kind, -people) < (current.kind, -population[form]):
            index[form] = place
            population[form] = people

    for country in all_countries():
        info = country.info()
        name = _SHORT_NAMES.get(info["name"], info["name"])
        people = int(info.get("population") or 0)
        put(name, Place(name, NAME), people)
        for alt in info.get("altSpellings") or ():
            if _usable(alt):
                put(alt, Place(name, NAME), people)
        for demonym in (info.get("demonym") or "").split(","):
            if demonym.strip():
                put(demonym.strip(), Place(name, DEMONYM), people)
        # A capital wins over a province of the same name, then the more
        # populous country ("Madrid" is listed as a province elsewhere too).
        for rank, city in enumerate([info.get("capital"), *(info.get("provinces") or ())]):
            if not isinstance(city, str):  # a few entries hold None or a list
                continue
            paren = _PAREN.match(city)
            for form in paren.groups() if paren else (city,):
                candidate = (min(rank, 1), -people, Place(name, CITY))
                if form and form[0].isupper() and (form not in cities or candidate[:2] < cities[form][:2]):
                    cities[form] = candidate
        for form, kind in _EXTRA_FORMS.get(info["name"], ()):
            put(form, Place(name, kind), people)
    for region, (names, adjectives) in _REGIONS.items():
        for form in names:
            index[form] = Place(region, NAME, is_region=True)
        for form in adjectives:
            index[form] = Place(region, DEMONYM, is_region=True)
    for form, (_, _, place) in cities.items():
        index.setdefault(form, place)
    return index


@functools.cache
def region_members() -> dict[str, frozenset[str]]:
    """Region name -> the short names of the countries in it (regions of :data:`_REGIONS` only)."""
    groups: dict[str, set[str]] = {}
    for country in all_countries():
        info = country.info()
        name = _SHORT_NAMES.get(info["name"], info["name"])
        for key in (f"region:{info.get('region')}", f"subregion:{info.get('subregion')}"):
            groups.setdefault(key, set()).add(name)
    return {
        region: frozenset(m for spec in specs for m in (groups.get(spec, ()) if ":" in spec else (spec,)))
        for region, specs in _MEMBERS.items()
    }
