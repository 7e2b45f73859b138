"""Start-up of the window through qasync, with the optional embedded demo."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import replace
from importlib import resources

import qasync
from PySide6.QtCore import QSettings
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QApplication

from eventscope.core.console import EXIT_FAILURE, EXIT_OK, error
from eventscope.core.profile import ConnectionProfile, TlsSettings, parse_broker_address
from eventscope.core.profiles.store import ProfileError, ProfileStore
from eventscope.core.workspace.allocator import pin_large_block_threshold
from eventscope.gui.context import AppContext
from eventscope.gui.main_window import MainWindow

# Seconds a thread may hold the interpreter lock while another waits for it. The window's thread gives the
# lock up at every Qt call that releases it, and waits for it back while the workspace's tick runs: at
# Python's default of 5 ms, a frame under load that worked 9 ms took 95.
INTERPRETER_SWITCH_INTERVAL = 0.001


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication the window runs in (the existing one if there is one), and the process set up for it."""
    sys.setswitchinterval(INTERPRETER_SWITCH_INTERVAL)
    pin_large_block_threshold()  # or the heap creeps with a large tree's resized tables
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv or sys.argv[:1])
    app.setOrganizationName("Eventscope")
    app.setApplicationName("Eventscope")
    app.setWindowIcon(application_icon())
    return app


def application_icon() -> QIcon:
    """The icon shipped as package data (a wheel has no resources/ folder beside the code)."""
    data = resources.files("eventscope.resources").joinpath("icons/eventscope.svg").read_bytes()
    pixmap = QPixmap()
    pixmap.loadFromData(data, "SVG")
    return QIcon(pixmap)


async def _run_window(args: argparse.Namespace) -> int:
    app = QApplication.instance()
    if not isinstance(app, QApplication):  # run_app() made it with create_application()
        raise RuntimeError("the window needs a QApplication (create_application() first)")
    context = AppContext(QSettings())
    context.read_only = args.read_only
    window = MainWindow(context)
    demo = None
    if args.demo:
        from eventscope.core.demo.environment import DemoEnvironment  # broker + simulator + replier

        demo = DemoEnvironment(broker_port=args.broker_port)
        try:
            await asyncio.get_running_loop().run_in_executor(None, demo.start)
        except Exception as exc:
            error(f"cannot start the embedded demo: {exc}")
            return EXIT_FAILURE
        print(f"Embedded broker: {demo.broker.url}", flush=True)
        window.connect_to(ConnectionProfile(name="demo", host=demo.broker.host, port=demo.broker.port,
                                            read_only=args.read_only))
        from eventscope.gui.demo_tour import start_demo_tour

        start_demo_tour(window)
        window.demo.started_outside = True
        window.update_demo_action()
    elif args.connect:
        try:
            profile = profile_from_address(args.connect, args.read_only)
        except ValueError as exc:
            error(str(exc))
            return EXIT_FAILURE
        window.connect_to(profile)
    if args.profile:
        try:
            store = ProfileStore.load()
            chosen = [store.get(name) for name in args.profile]
        except ProfileError as exc:
            error(str(exc))
            return EXIT_FAILURE
        for stored in chosen:
            if args.read_only:
                stored = replace(stored, connection=stored.connection.with_changes(read_only=True))
            window.open_stored_profile(stored, store.password(stored.name))
    elif not args.demo and not args.connect:
        window.restore_workspace()
    if window.start_maximized:
        window.showMaximized()
    else:
        window.show()

    closed = asyncio.Event()
    # Qt's own quit-on-last-window would stop the loop under this coroutine; end it here instead,
    # after the demo is stopped.
    app.setQuitOnLastWindowClosed(False)
    app.lastWindowClosed.connect(closed.set)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, window.close)
        except (NotImplementedError, RuntimeError):
            signal.signal(sig, lambda *_: window.close())
    if args.quit_after is not None or args.screenshot:
        loop.call_later(args.quit_after if args.quit_after is not None else 3.0,
                        lambda: _finish(window, args.screenshot))
    try:
        await closed.wait()
        if window.closing is not None:  # final audit commits and acks, after the window went
            await asyncio.wrap_future(window.closing)
    finally:
        if demo is not None:
            await loop.run_in_executor(None, demo.stop)
    return EXIT_OK


def profile_from_address(address: str, read_only: bool) -> ConnectionProfile:
    """``--connect ADDRESS``: the scheme's TLS and transport are kept (certificates verified)."""
    host, port, tls, transport = parse_broker_address(address)
    return ConnectionProfile(name=f"{host}:{port}", host=host, port=port, transport=transport,
                             tls=TlsSettings(enabled=tls), read_only=read_only)


def _finish(window: MainWindow, screenshot: str | None) -> None:
    if screenshot:
        window.grab().save(screenshot)
        print(f"Screenshot: {screenshot}", flush=True)
    window.close()


def run_app(args: argparse.Namespace) -> int:
    create_application()
    return qasync.run(_run_window(args))
