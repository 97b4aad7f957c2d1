"""A store's time zone as Commerce writes it -> a `ZoneInfo`.

`RetailStoreEntity.ChannelTimeZone` is F&O's `Timezone` enum (symbols such as
``GMTMINUS0800PACIFICTIME``); exports and other tools carry Windows names ("Pacific Standard
Time"); tests and the sandboxes use IANA names. All three are accepted. Windows names follow
CLDR's windowsZones.xml "001" (golden) mapping; F&O symbols map to the IANA zone of the cities in
their label. A name in none of the tables falls back to a configured zone (UTC by default) and the
fallback is reported, so a due date is never silently shifted without a trace.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Windows time zone id -> IANA (CLDR windowsZones.xml, territory 001), the common retail zones.
WINDOWS_TO_IANA: dict[str, str] = {
    "Dateline Standard Time": "Etc/GMT+12",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time": "America/Los_Angeles",
    "Pacific Standard Time (Mexico)": "America/Tijuana",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time": "America/Denver",
    "Mountain Standard Time (Mexico)": "America/Mazatlan",
    "Central Standard Time": "America/Chicago",
    "Central America Standard Time": "America/Guatemala",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina",
    "Eastern Standard Time": "America/New_York",
    "US Eastern Standard Time": "America/Indiana/Indianapolis",
    "SA Pacific Standard Time": "America/Bogota",
    "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Argentina/Buenos_Aires",
    "UTC": "Etc/UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw",
    "GTB Standard Time": "Europe/Bucharest",
    "FLE Standard Time": "Europe/Kyiv",
    "E. Europe Standard Time": "Europe/Chisinau",
    "Turkey Standard Time": "Europe/Istanbul",
    "Israel Standard Time": "Asia/Jerusalem",
    "Egypt Standard Time": "Africa/Cairo",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Russian Standard Time": "Europe/Moscow",
    "Arab Standard Time": "Asia/Riyadh",
    "Arabian Standard Time": "Asia/Dubai",
    "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Kolkata",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei",
    "W. Australia Standard Time": "Australia/Perth",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
}

# F&O `Timezone` enum symbol (what ChannelTimeZone holds over OData) -> IANA, common zones.
FO_TIMEZONE_TO_IANA: dict[str, str] = {
    "GMTMINUS1000HAWAII": "Pacific/Honolulu",
    "GMTMINUS0900ALASKA": "America/Anchorage",
    "GMTMINUS0800PACIFICTIME": "America/Los_Angeles",
    "GMTMINUS0800TIJUANA_BAJACALIFORNIA": "America/Tijuana",
    "GMTMINUS0700ARIZONA": "America/Phoenix",
    "GMTMINUS0700MOUNTAINTIME": "America/Denver",
    "GMTMINUS0600CENTRALTIME": "America/Chicago",
    "GMTMINUS0600GUADALAJARA_MEXICOCITY": "America/Mexico_City",
    "GMTMINUS0600SASKATCHEWAN": "America/Regina",
    "GMTMINUS0500EASTERNTIME": "America/New_York",
    "GMTMINUS0500INDIANA": "America/Indiana/Indianapolis",
    "GMTMINUS0500BOGOTA_LIMA_QUITO_RIOBRANCO": "America/Bogota",
    "GMTMINUS0400ATLANTICTIME": "America/Halifax",
    "GMTMINUS0330NEWFOUNDLAND": "America/St_Johns",
    "GMTMINUS0300BRASILIA": "America/Sao_Paulo",
    "GMTMINUS0300BUENOSAIRES": "America/Argentina/Buenos_Aires",
    "GMT_COORDINATEDUNIVERSALTIME": "Etc/UTC",
    "GMT_DUBLIN_EDINBURGH_LISBON_LONDON": "Europe/London",
    "GMTPLUS0100_AMSTERDAM_BERLIN_BERN_ROME": "Europe/Berlin",
    "GMTPLUS0100BELGRADE_BRATISLAVA_BUDAPEST": "Europe/Budapest",
    "GMTPLUS0100BRUSSELS_COPENHAGEN_MADRID": "Europe/Paris",
    "GMTPLUS0100SARAJEVO_SKOPJE_WARSAW_ZAGREB": "Europe/Warsaw",
    "GMTPLUS0200ATHENS_BUCHAREST_ISTANBUL": "Europe/Bucharest",
    "GMTPLUS0200HELSINKI_KYIV_RIGA_VILNIUS": "Europe/Helsinki",
    "GMTPLUS0200JERUSALEM": "Asia/Jerusalem",
    "GMTPLUS0200CAIRO": "Africa/Cairo",
    "GMTPLUS0200HARARE_PRETORIA": "Africa/Johannesburg",
    "GMTPLUS0300ISTANBUL": "Europe/Istanbul",
    "GMTPLUS0300MOSCOW_STPETERSBURG_VOLGOGRAD": "Europe/Moscow",
    "GMTPLUS0300KUWAIT_RIYADH": "Asia/Riyadh",
    "GMTPLUS0400ABUDHABI_MUSCAT": "Asia/Dubai",
    "GMTPLUS0500ISLAMABAD_KARACHI": "Asia/Karachi",
    "GMTPLUS0530CHENNAI_KOLKATA_MUMBAI": "Asia/Kolkata",
    "GMTPLUS0700_BANGKOK_HANOI_JAKARTA": "Asia/Bangkok",
    "GMTPLUS0800BEIJING_CHONGQING_HONGKONG": "Asia/Shanghai",
    "GMTPLUS0800KUALALUMPUR_SINGAPORE": "Asia/Singapore",
    "GMTPLUS0800TAIPEI": "Asia/Taipei",
    "GMTPLUS0800PERTH": "Australia/Perth",
    "GMTPLUS0900OSAKA_SAPPORO_TOKYO": "Asia/Tokyo",
    "GMTPLUS0900SEOUL": "Asia/Seoul",
    "GMTPLUS0930ADELAIDE": "Australia/Adelaide",
    "GMTPLUS0930DARWIN": "Australia/Darwin",
    "GMTPLUS1000BRISBANE": "Australia/Brisbane",
    "GMTPLUS1000CANBERRA_MELBOURNE_SYDNEY": "Australia/Sydney",
    "GMTPLUS1200AUCKLAND_WELLINGTON": "Pacific/Auckland",
}

_FOLDED = {
    name.casefold(): iana for table in (WINDOWS_TO_IANA, FO_TIMEZONE_TO_IANA) for name, iana in table.items()
}


class ZoneSource(StrEnum):
    IANA = "iana"
    WINDOWS = "windows"
    FO_ENUM = "fo_enum"
    FALLBACK = "fallback"


class StoreZone(NamedTuple):
    zone: ZoneInfo
    source: ZoneSource
    name: str  # what Commerce gave (for reports)


@lru_cache(maxsize=512)
def store_zone(name: str | None, fallback: str = "UTC") -> StoreZone:
    """The zone for a store's ChannelTimeZone: IANA name, Windows id or F&O enum symbol (exact,
    then case-insensitive); anything else -> `fallback`, marked `ZoneSource.FALLBACK`."""
    text = (name or "").strip()
    if text in WINDOWS_TO_IANA:
        return StoreZone(ZoneInfo(WINDOWS_TO_IANA[text]), ZoneSource.WINDOWS, text)
    if text in FO_TIMEZONE_TO_IANA:
        return StoreZone(ZoneInfo(FO_TIMEZONE_TO_IANA[text]), ZoneSource.FO_ENUM, text)
    if text.casefold() in _FOLDED:
        source = ZoneSource.FO_ENUM if text.upper().startswith("GMT") else ZoneSource.WINDOWS
        return StoreZone(ZoneInfo(_FOLDED[text.casefold()]), source, text)
    if "/" in text or text == "UTC":
        try:
            return StoreZone(ZoneInfo(text), ZoneSource.IANA, text)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return StoreZone(ZoneInfo(fallback), ZoneSource.FALLBACK, text)
