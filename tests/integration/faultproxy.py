"""FaultProxy: a TCP proxy in front of bitcoind's RPC/REST port that relays,
delays, truncates, black-holes, resets or answers HTTP 500 (a fault
injector; the node behind it is real).  Used by test_follow.py,
test_reliability.py and tests/reliability/."""
import socket
import struct
import threading
import time


class FaultProxy:
    """A TCP proxy in front of the node's RPC/REST port.

    modes: "pass" relays; "delay" holds every chunk delay_s before relaying;
    "truncate" relays the request but only the first half of each answer,
    then closes; "drop" accepts and reads but never answers (a black hole:
    the client's timeout must fire); "reset" closes with RST at once;
    "500" answers every request with HTTP 500; "no_spenttxouts" relays
    everything but answers 404 to /rest/spenttxouts/ (a node whose REST
    predates that endpoint, like Core < 30).  Changing the mode drops
    every open connection (as a node restart would)."""

    MODES = ("pass", "delay", "truncate", "drop", "reset", "500", "no_spenttxouts")

    def __init__(self, upstream_port, delay_s=0.2):
        self.upstream = upstream_port
        self.delay_s = delay_s
        self.mode = "pass"
        self.conns = []
        self.lock = threading.Lock()
        self.accepted = {m: 0 for m in self.MODES}
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(128)
        self.port = self.srv.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode):
        assert mode in self.MODES, mode
        with self.lock:
            self.mode = mode
            old, self.conns = self.conns, []
        for c in old:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with self.lock:
                mode = self.mode
                self.conns.append(c)
                self.accepted[mode] += 1
            threading.Thread(target=self._serve, args=(c, mode), daemon=True).start()

    @staticmethod
    def _read_request(c, buf):
        """One HTTP request from c (buf: bytes already read); returns
        (request, rest) or (None, buf) at EOF."""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return None, buf
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        n = 0
        for ln in head.split(b"\r\n"):
            if ln.lower().startswith(b"content-length:"):
                n = int(ln.split(b":")[1])
        while len(rest) < n:
            d = c.recv(65536)
            if not d:
                return None, buf
            rest += d
        return head + b"\r\n\r\n" + rest[:n], rest[n:]

    def _serve(self, c, mode):
        try:
            if mode == "reset":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if mode == "drop":
                while c.recv(65536):
                    pass
                return
            if mode == "500":
                buf = b""
                while True:
                    req, buf = self._read_request(c, buf)
                    if req is None:
                        return
                    c.sendall(b"HTTP/1.1 500 Internal Server Error\r\n"
                              b"Content-Length: 5\r\n\r\noops\n")
            if mode == "no_spenttxouts":
                self._serve_without_spenttxouts(c)
                return
            if mode == "truncate":
                # one request, half of its answer, close
                req, _ = self._read_request(c, b"")
                if req is None:
                    return
                u = socket.create_connection(("127.0.0.1", self.upstream), timeout=30)
                try:
                    u.sendall(req)
                    data = b""
                    while True:
                        d = u.recv(65536)
                        if not d:
                            break
                        data += d
                        if b"\r\n\r\n" in data:
                            head, body = data.split(b"\r\n\r\n", 1)
                            n = None
                            for ln in head.split(b"\r\n"):
                                if ln.lower().startswith(b"content-length:"):
                                    n = int(ln.split(b":")[1])
                            if n is not None and len(body) >= n:
                                break
                    cut = max(1, len(data) // 2)
                    c.sendall(data[:cut])
                finally:
                    u.close()
                return
            u = socket.create_connection(("127.0.0.1", self.upstream))
            with self.lock:
                self.conns.append(u)
            delay = self.delay_s if mode == "delay" else 0.0

            def pump(a, b):
                try:
                    while True:
                        d = a.recv(65536)
                        if not d:
                            break
                        if delay:
                            time.sleep(delay)
                        b.sendall(d)
                except OSError:
                    pass
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            t = threading.Thread(target=pump, args=(u, c), daemon=True)
            t.start()
            pump(c, u)
            t.join()
            u.close()
        except OSError:
            pass
        finally:
            c.close()

    def _serve_without_spenttxouts(self, c):
        """Request by request: 404 for /rest/spenttxouts/, else relayed on
        one upstream connection (keep-alive both ways)."""
        u = socket.create_connection(("127.0.0.1", self.upstream), timeout=60)
        with self.lock:
            self.conns.append(u)
        buf, ubuf = b"", b""
        try:
            while True:
                req, buf = self._read_request(c, buf)
                if req is None:
                    return
                if req.split(b" ", 2)[1].startswith(b"/rest/spenttxouts/"):
                    body = b"Not found\n"
                    c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(body) + body)
                    continue
                u.sendall(req)
                resp, ubuf = self._read_request(u, ubuf)
                if resp is None:
                    return
                c.sendall(resp)
        finally:
            u.close()

    def close(self):
        self.closed = True
        self.srv.close()
        self.set_mode("reset")
