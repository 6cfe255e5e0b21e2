"""A short, human label for the device a login came from ("Safari on iOS"), read from its
User-Agent. Only the label is kept (`login_sessions.device`), not the header: enough for a person
to tell their logins apart, too little to fingerprint them by."""

from __future__ import annotations

import re

UNKNOWN_DEVICE = "Unknown device"
MAX_LENGTH = 64

# The first pattern that matches names it. Order matters: iPadOS and Android also say "Mac OS X" or
# "Linux", Edge and Opera also say "Chrome", and every Chromium browser also says "Safari".
_SYSTEMS = (
    (re.compile(r"iPhone|iPad|iPod|\biOS\b"), "iOS"),
    (re.compile(r"Android"), "Android"),
    (re.compile(r"CrOS"), "ChromeOS"),
    (re.compile(r"Windows"), "Windows"),
    (re.compile(r"Macintosh|Mac OS X|macOS"), "macOS"),
    (re.compile(r"Linux"), "Linux"),
)
_BROWSERS = (
    (re.compile(r"\bEdg(e|A|iOS)?/"), "Edge"),
    (re.compile(r"\bOPR/|\bOpera\b"), "Opera"),
    (re.compile(r"\bSamsungBrowser/"), "Samsung Internet"),
    (re.compile(r"\bFirefox/|\bFxiOS/"), "Firefox"),
    (re.compile(r"\bChrome/|\bCriOS/"), "Chrome"),
    (re.compile(r"\bVersion/[\d.]+.*\bSafari/"), "Safari"),
)
# A product token ("remixfeed-ios/2.1", "okhttp/4.12"): its name is the label of an app or a
# library that is no browser.
_PRODUCT = re.compile(r"^([A-Za-z][A-Za-z0-9._-]{0,39})(?:/|\s|$)")


def device_label(user_agent: str | None) -> str:
    """ "Browser on system", whichever of the two is known, else "Unknown device"."""
    agent = (user_agent or "").strip()[:512]
    system = next((name for pattern, name in _SYSTEMS if pattern.search(agent)), None)
    browser = next((name for pattern, name in _BROWSERS if pattern.search(agent)), None)
    if browser is None and not agent.startswith("Mozilla/"):
        product = _PRODUCT.match(agent)
        browser = product.group(1) if product else None
    label = f"{browser} on {system}" if browser and system else browser or system or UNKNOWN_DEVICE
    return label[:MAX_LENGTH]
