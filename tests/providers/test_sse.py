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


def test_a_crlf_split_across_two_reads_keeps_the_event_whole():
    """Gemini ends lines with CR LF; a read may end between the two bytes. Taken alone, that CR
    and the LF opening the next read are one line end, not two (which would end the event early)."""
    s = SSESplitter()
    assert s.feed(b'data: {"a":\r') == []
    assert s.feed(b'\ndata: 1}\r\n\r') == []
    assert s.feed(b"\n") == [b'data: {"a":\ndata: 1}']
    assert parse_block(b'data: {"a":\ndata: 1}').data == b'{"a":\n1}'


def test_every_split_of_a_crlf_stream_gives_the_same_events():
    stream = b'data: {"a": 1}\r\n\r\nevent: x\r\ndata: 2\r\n\r\n: ping\r\n\r\ndata: [DONE]\r\n\r\n'
    whole = SSESplitter().feed(stream)
    for cut in range(1, len(stream)):
        s = SSESplitter()
        assert s.feed(stream[:cut]) + s.feed(stream[cut:]) == whole, cut
