from seawall.providers.sse import SSESplitter


def test_events_split_across_reads_come_out_whole():
    s = SSESplitter()
    assert s.feed(b"data: {\"a\"") == []
    assert s.pending == b"data: {\"a\""
    (ev,) = s.feed(b": 1}\n\ndata: [DO")
    assert ev.data == b'{"a": 1}' and ev.raw == b'data: {"a": 1}\n\n'
    (done,) = s.feed(b"NE]\n\n")
    assert done.data == b"[DONE]" and s.pending == b""


def test_crlf_and_event_names_and_multiline_data():
    s = SSESplitter()
    evs = s.feed(b"event: message_start\r\ndata: {\"x\":\r\ndata: 1}\r\n\r\n: keep-alive\r\n\r\n")
    assert [e.event for e in evs] == ["message_start", None]
    assert evs[0].data == b'{"x":\n1}'
    assert evs[1].data == b""


def test_data_without_space_after_colon():
    (ev,) = SSESplitter().feed(b"data:{}\n\n")
    assert ev.data == b"{}"
