from seawall.providers.sse import SSESplitter, data_of, parse_block


def test_events_split_across_reads_come_out_whole():
    s = SSESplitter()
    assert s.feed(b"data: {\"a\"") == []
    assert s.pending == b"data: {\"a\""
    assert s.feed(b": 1}\n\ndata: [DO") == [b'data: {"a": 1}']
    assert s.feed(b"NE]\n\n") == [b"data: [DONE]"] and s.pending == b""


def test_crlf_event_names_and_multiline_data():
    blocks = SSESplitter().feed(b"event: message_start\r\ndata: {\"x\":\r\ndata: 1}\r\n\r\n: keep-alive\r\n\r\n")
    first = parse_block(blocks[0])
    assert first.event == "message_start" and first.data == b'{"x":\n1}'
    assert data_of(blocks[1]) == b""


def test_data_without_space_after_colon_and_the_single_line_fast_path():
    assert data_of(b"data:{}") == b"{}"
    assert data_of(b'data: {"a":1}') == b'{"a":1}'
