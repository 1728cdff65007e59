"""Cloud-native reads: /vsicurl/ against a local HTTP server that honours range requests. Opening a
.b2b and reading one tile takes a handful of requests and a small part of the file."""
import http.server
import os
import threading

import pytest

from sample_data import s2_band


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with single-range GET support, counting requests and bytes sent."""
    log = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return
        size = os.path.getsize(path)
        start, end = 0, size - 1
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            self.wfile.write(f.read(end - start + 1))
        RangeHandler.log.append(("GET", end - start + 1))

    def do_HEAD(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        RangeHandler.log.append(("HEAD", 0))


@pytest.fixture
def server(tmp_path):
    handler = lambda *a, **k: RangeHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_one_tile_over_http(gdal, server, shared_data):
    folder, url = server
    src = gdal.Open(str(s2_band("B02")))
    gdal.GetDriverByName("B2B").CreateCopy(str(folder / "b02.b2b"), src)
    size = (folder / "b02.b2b").stat().st_size
    gdal.VSICurlClearCache()
    RangeHandler.log.clear()
    with gdal.config_options({"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_MAX_RETRY": "0"}) \
            if hasattr(gdal, "config_options") else _options(gdal):
        ds = gdal.Open(f"/vsicurl/{url}/b02.b2b")
        assert ds.GetDriver().ShortName == "B2B"
        opened = len(RangeHandler.log)
        tile = ds.GetRasterBand(1).ReadRaster(1024, 512, 256, 256)
    assert tile == src.GetRasterBand(1).ReadRaster(1024, 512, 256, 256)
    sent = sum(n for _, n in RangeHandler.log)
    print(f"\n/vsicurl/: open {opened} requests; open + one 256x256 tile {len(RangeHandler.log)} requests, "
          f"{sent:,} of {size:,} bytes ({100 * sent / size:.1f}%)")
    assert len(RangeHandler.log) <= 12
    assert sent < size / 4


class _options:
    """gdal.config_options for GDAL < 3.7 bindings."""
    values = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_MAX_RETRY": "0"}

    def __init__(self, gdal):
        self.gdal = gdal

    def __enter__(self):
        for k, v in self.values.items():
            self.gdal.SetConfigOption(k, v)

    def __exit__(self, *exc):
        for k in self.values:
            self.gdal.SetConfigOption(k, None)
