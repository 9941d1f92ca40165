"""Debian's Chromium as Playwright launches it here (DESIGN.md section 9), for the browser tests
and for bench/first_audio.py. Never `playwright install`."""

CHROMIUM = "/usr/bin/chromium"
# Exactly the documented flags: no --disable-features of our own (it would drop Playwright's).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
]
