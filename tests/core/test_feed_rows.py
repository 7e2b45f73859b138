"""The feed's rows while paging deep into history: the newest loaded rows are let go of, and page back in
next to the loaded ones without a gap, live commits meanwhile included."""

from __future__ import annotations

from eventscope.core.audit.feed import PAGE_SIZE, FeedPage, FeedReader, FeedRows
from eventscope.core.audit.store import AuditQuery, AuditStore
from eventscope.core.records import MessageRecord


def test_rows_let_go_of_while_paging_deep_page_back_in_without_a_gap(tmp_path):
    db = tmp_path / "audit.sqlite3"
    store = AuditStore(db, max_age_seconds=0)
    reader = FeedReader(db)
    query = AuditQuery()
    try:
        store.write_batch([MessageRecord("r/hello/request", f"n{i}".encode(), received=1e9 + i) for i in range(1000)])
        feed = FeedRows()
        feed.reset(reader.first_page(query).result(30))
        for _ in range(2):
            feed.add_older(reader.page_before(query, feed.rows[-1].id).result(30))
        assert [feed.newest_id(), feed.rows[-1].id] == [1000, 401]
        feed.drop_newest(PAGE_SIZE)
        assert feed.newer_dropped and feed.newest_id() == 800 and len(feed) == 2 * PAGE_SIZE

        # A batch committed meanwhile is not put beside the loaded rows: it pages in after the ones let go of.
        (committed,) = store.write_batch([MessageRecord("r/hello/request", b"late", received=2e9)]).rows
        assert feed.fresh_rows([committed], query) == ([], []) and feed.newest_seen == committed.id == 1001
        feed.add_newer(FeedPage((), {}, True), PAGE_SIZE)  # a page read before that commit: it is still due
        assert feed.newer_dropped

        page = reader.rows_after(query, feed.newest_id(), PAGE_SIZE).result(30)
        assert [page.rows[0].id, page.rows[-1].id] == [801, 1000] and not page.exhausted
        feed.add_newer(page, PAGE_SIZE)
        assert feed.newer_dropped  # a full page: more may follow
        page = reader.rows_after(query, feed.newest_id(), PAGE_SIZE).result(30)
        assert [r.id for r in page.rows] == [1001] and page.exhausted
        feed.add_newer(page, PAGE_SIZE)
        assert not feed.newer_dropped
        assert [r.id for r in feed.rows] == list(range(1001, 400, -1))
    finally:
        reader.close()
        store.close()


def test_letting_the_newest_rows_go_forgets_their_pairs(tmp_path):
    db = tmp_path / "audit.sqlite3"
    store = AuditStore(db, max_age_seconds=0)
    reader = FeedReader(db)
    try:
        from eventscope.core.records import MessageProperties

        request = MessageRecord("eu/hello/request", b"q", received=1e9,
                                properties=MessageProperties(response_topic="eu/hello/response", correlation_data=b"c1"))
        reply = MessageRecord("eu/hello/response", b"a", received=1e9 + 0.01,
                              properties=MessageProperties(correlation_data=b"c1"))
        store.write_batch([request])
        store.write_batch([reply])
        store.write_batch([MessageRecord("eu/other", f"o{i}".encode(), received=1e9 + 1 + i) for i in range(5)])
        feed = FeedRows()
        feed.reset(reader.first_page(AuditQuery()).result(30))
        request_row = feed.rows[-1]
        assert request_row.kind == "request" and feed.reply_of(request_row) is not None
        feed.drop_newest(len(feed) - 1)  # only the request is left
        assert feed.reply_of(feed.rows[0]) is not None  # its reply stays known while the request shows
        feed.drop_newest(1)
        assert not feed.rows and not feed.replies and not feed.answered
    finally:
        reader.close()
        store.close()


def _rows(*ids: int) -> tuple:
    from eventscope.core.audit.store import build_audit_row

    return tuple(build_audit_row(i, 100.0 + i, "us-east", "us-east/hello/request", "us-east", "request", 1, False,
                                 f"c{i}".encode(), None, b"p", False, 1, False, {}, None, None, (), False)
                 for i in sorted(ids, reverse=True))


def test_copies_of_one_message_from_several_brokers_change_its_row_once_with_every_hop():
    from dataclasses import replace

    from eventscope.core.audit.store import ReplyPairing, Sighting

    feed = FeedRows()
    feed.reset(FeedPage(_rows(1, 2, 3, 5, 9), {}, True, 9))  # gaps: ids another search left out
    changed = feed.apply_sightings([Sighting(5, "us-west", 105.04), Sighting(9, "eu", 109.1),
                                    Sighting(5, "eu-central", 105.05), Sighting(4, "us-west", 104.2)])
    assert sorted(changed) == [0, 1]  # one change per message; 4 is not shown
    (five,) = [row for row in feed.rows if row.id == 5]
    assert five.path_text() == "us-east +0 ms → us-west +40 ms → eu-central +50 ms"
    assert five == replace(_rows(5)[0], sightings=(("us-west", 105.04), ("eu-central", 105.05)))
    assert feed.apply_sightings([Sighting(5, "us-west", 105.04)]) == []  # a hop already on the path
    assert feed.apply_sightings([Sighting(3, "eu", 103.2), Sighting(3, "eu", 103.2)]) == [2]  # twice in one summary
    assert feed.rows[2].sightings == (("eu", 103.2),)
    assert feed.pending_sightings == {4: [("us-west", 104.2)]}
    assert [feed.position(i) for i in (9, 5, 4, 1, 10)] == [0, 1, None, 4, None]
    assert feed.apply_pairings([ReplyPairing(5, 11, 2.5)], {}) == [1]
    assert feed.rows[1] == replace(five, reply_id=11, rtt_ms=2.5)
