"""Audit store and stream benchmarks. Run: python -m tests.perf.bench_audit_stream [--rows N] ...

1. Audit insert rate (rows/s, one transaction per 1000-row batch) vs a raw paho
   subscriber's ingest rate from Mosquitto (QoS 0 and QoS 1).
2. Opening an N-row audit DB in the audit table model and paging to the end: time per page.
3. RSS with that DB open (above the baseline before opening).
The stream view's stalls under load are measured with the whole window by ``bench_window_stall``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402

from eventscope.core.audit.store import AuditStore  # noqa: E402
from eventscope.core.records import MessageProperties, MessageRecord  # noqa: E402

REGIONS = ("us-east", "us-west", "eu-central", "ap-south")


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def make_records(n: int, start: int = 0) -> list[MessageRecord]:
    now = time.time()
    out = []
    for i in range(start, start + n):
        props = MessageProperties(response_topic=f"{REGIONS[i % 4]}/hello/response", correlation_data=f"c{i}".encode())
        out.append(MessageRecord(f"{REGIONS[i % 4]}/hello/request", f'{{"seq": {i}, "msg": "hello"}}'.encode(),
                                 qos=1, received=now, properties=props, broker_id="bench"))
    return out


def bench_insert(workdir: Path, rows: int) -> float:
    store = AuditStore(workdir / "insert.sqlite3")
    batches = [make_records(1000, s) for s in range(0, rows, 1000)]
    t0 = time.perf_counter()
    for batch in batches:
        store.write_batch(batch, broker="mqtt://bench")
    elapsed = time.perf_counter() - t0
    store.close()
    return rows / elapsed


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen, int]:
    from tests.conftest import free_port, wait_for_port

    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(("user root\n" if os.geteuid() == 0 else "") + f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 1000000\n")
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return proc, port


def bench_paho_ingest(port: int, count: int, qos: int) -> float:
    """Messages/s a raw paho subscriber receives (publisher in a separate process: mosquitto_pub would be too slow)."""
    received = 0
    done = threading.Event()

    def on_message(_c, _u, _m):
        nonlocal received
        received += 1
        if received >= count:
            done.set()

    sub = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("bench/#", qos=qos)
    sub.loop_start()
    time.sleep(0.3)  # let the SUBACK land before the publisher starts (benchmark set-up, not a test)
    code = ("import paho.mqtt.client as m,sys\n"
            "c=m.Client(callback_api_version=m.CallbackAPIVersion.VERSION2,protocol=m.MQTTv5)\n"
            f"c.max_inflight_messages_set(1000);c.max_queued_messages_set(0);c.connect('127.0.0.1',{port});c.loop_start()\n"
            "import time\nwhile not c.is_connected(): time.sleep(0.01)\n"
            f"for s in range(0,{count},5000):\n"
            f"  infos=[c.publish('bench/'+str(i%4),b'x'*64,qos={qos}) for i in range(s,min(s+5000,{count}))]\n"
            "  [i.wait_for_publish(60) for i in infos]\n"
            "c.disconnect();c.loop_stop()\n")
    t0 = time.perf_counter()
    publisher = subprocess.Popen([sys.executable, "-c", code])
    if not done.wait(120):
        print(f"warning: the subscriber got only {received} of {count} messages", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    publisher.wait(60)
    sub.disconnect()
    sub.loop_stop()
    return received / elapsed


def fill_big_db(path: Path, rows: int) -> None:
    store = AuditStore(path, max_rows=rows * 2)
    for start in range(0, rows, 20_000):
        store.write_batch(make_records(min(20_000, rows - start), start), broker="mqtt://bench")
    store.close()


def bench_open_and_page(path: Path, max_pages: int) -> tuple[float, float, float, float, float, int, int]:
    """Open the DB in the feed model + table as the window does (pages read on the feed reader's thread);
    page down ``max_pages`` pages; time the deepest page too. Each time runs until the page is shown."""
    from PySide6.QtWidgets import QApplication, QTableView

    from eventscope.core.audit.feed import FeedReader
    from eventscope.core.audit.store import AuditQuery
    from eventscope.gui.models.audit_table_model import MAX_LOADED_ROWS, PAGE_SIZE, AuditTableModel

    app = QApplication.instance() or QApplication([])

    def shown(model: AuditTableModel) -> None:  # until the page's answer has reached the model
        deadline = time.monotonic() + 60
        while model.busy and time.monotonic() < deadline:
            app.processEvents()
        app.processEvents()

    base = rss_mb()
    t0 = time.perf_counter()
    reader = FeedReader(path)
    model = AuditTableModel(reader)
    view = QTableView()
    view.setModel(model)
    view.resize(1200, 800)
    view.show()
    shown(model)
    open_ms = (time.perf_counter() - t0) * 1000
    page_times = []
    pages = 0
    while pages < max_pages:
        shown(model)  # the page the view asked for itself when it scrolled, untimed
        if not model.canFetchMore():
            break
        t = time.perf_counter()
        model.fetchMore()
        shown(model)
        view.scrollToBottom()
        app.processEvents()
        page_times.append((time.perf_counter() - t) * 1000)
        pages += 1
    shown(model)
    rows_held = model.rowCount()
    # The last page of history (the oldest rows): the query cost at the far end of the file.
    store = AuditStore.open_reader(path)
    t = time.perf_counter()
    oldest = store.page_before(AuditQuery(), PAGE_SIZE + 1, PAGE_SIZE)
    deepest_ms = (time.perf_counter() - t) * 1000
    assert oldest and oldest[-1].id == 1
    store.close()
    rss_above = rss_mb() - base
    assert rows_held <= MAX_LOADED_ROWS, f"{rows_held} rows held after {pages} pages"
    page_times.sort()
    view.close()
    reader.close()
    return (open_ms, statistics.mean(page_times), page_times[int(len(page_times) * 0.99)], deepest_ms, rss_above,
            pages, rows_held)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--insert-rows", type=int, default=100_000)
    parser.add_argument("--ingest-messages", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the big audit DB")
    parser.add_argument("--pages", type=int, default=600, help="pages to scroll through (past the 50,000 rows held)")
    args = parser.parse_args(argv)
    results: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rate = bench_insert(workdir, args.insert_rows)
        results.append(("audit insert, 1000-row transactions", f"{rate:,.0f} rows/s", "> paho ingest"))
        if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists():
            proc, port = start_mosquitto(workdir)
            try:
                for qos in (0, 1):
                    ingest = bench_paho_ingest(port, args.ingest_messages, qos)
                    results.append((f"raw paho subscriber ingest, QoS {qos}", f"{ingest:,.0f} msgs/s", "(reference)"))
            finally:
                proc.terminate()
                proc.wait(10)
        big = workdir / "big.sqlite3"
        t0 = time.perf_counter()
        fill_big_db(big, args.rows)
        results.append((f"fill {args.rows:,}-row DB (setup)", f"{time.perf_counter() - t0:.1f} s",
                        f"{big.stat().st_size / 1e6:.0f} MB file"))
        open_ms, page_mean, page_p99, deepest_ms, rss_above, pages, held = bench_open_and_page(big, args.pages)
        results.append((f"open {args.rows:,}-row DB in the feed", f"{open_ms:.0f} ms", "instant"))
        results.append((f"scroll down {pages} pages (fetchMore+paint): mean / p99", f"{page_mean:.1f} / {page_p99:.1f} ms",
                        "< 200 ms"))
        results.append(("query the oldest page (end of the DB)", f"{deepest_ms:.1f} ms", "< 200 ms"))
        results.append((f"RSS above baseline, DB open, {pages} pages scrolled ({held:,} rows held)", f"{rss_above:.0f} MB",
                        "< 100 MB"))
    width = max(len(r[0]) for r in results)
    print(f"\n{'measure'.ljust(width)} | {'result':>22} | target")
    print("-" * (width + 40))
    for name, value, target in results:
        print(f"{name.ljust(width)} | {value:>22} | {target}")


if __name__ == "__main__":
    main()
