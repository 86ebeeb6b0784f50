"""An SMTP server that takes SMTP_DELAY seconds to accept each mail and then drops it: what the
forgot-password scenarios of bench/bench.py send through, to show that no request waits for SMTP.
Usage: slow_smtp.py PORT DELAY_SECONDS (run with the venv's python, which has aiosmtpd)."""

import asyncio
import signal
import sys

from aiosmtpd.controller import Controller


class Slow:
    def __init__(self, delay: float):
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        return "250 OK"


port, delay = int(sys.argv[1]), float(sys.argv[2])
controller = Controller(Slow(delay), hostname="127.0.0.1", port=port)
controller.start()
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
