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
        rng = self.headers.get("Range") or ""
        partial = rng.startswith("bytes=")
        if partial:
            first, _, last = rng[6:].partition("-")
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        # Logged before answering: logged after, a loaded machine let the client go on and the
        # test read the log before this thread wrote to it.
        RangeHandler.log.append(("GET", end - start + 1))
        self.send_response(206 if partial else 200)
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            self.wfile.write(f.read(end - start + 1))

    def do_HEAD(self):
        path = self.translate_path(self.path)
        if not os.path.isfile(path):
            self.send_error(404)
            return
        RangeHandler.log.append(("HEAD", 0))
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()


@pytest.fixture
def server(tmp_path):
    handler = lambda *a, **k: RangeHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def requests(gdal, url: str) -> dict[str, list]:
    """The HTTP requests of opening `url` with /vsicurl/ and GDAL's default settings, then of
    reading one 256 x 256 window, then of reading the smallest overview whole."""
    gdal.VSICurlClearCache()
    RangeHandler.log.clear()
    ds = gdal.Open(f"/vsicurl/{url}")
    seen = {"open": list(RangeHandler.log)}
    window = ds.GetRasterBand(1).ReadRaster(1024, 512, 256, 256)
    seen["window"] = RangeHandler.log[len(seen["open"]):]
    done = len(RangeHandler.log)
    band = ds.GetRasterBand(1)
    band.GetOverview(band.GetOverviewCount() - 1).ReadRaster()
    seen["overview"] = RangeHandler.log[done:]
    seen["pixels"] = window
    return seen


def test_http_requests_like_a_cog(gdal, server, shared_data):
    """Open: GDAL's HEAD, its read of the first bytes, and one read of the end (the central
    directory with every zarr.json document and the manifest beside it); a block or an overview:
    one range request each, local header and data together. A COG, side by side."""
    folder, url = server
    src = gdal.Open(str(s2_band("B02")))
    gdal.GetDriverByName("B2B").CreateCopy(str(folder / "b02.b2b"), src)
    gdal.Translate(str(folder / "b02.tif"), src, format="COG",
                   creationOptions=["BLOCKSIZE=512", "COMPRESS=ZSTD", "PREDICTOR=YES"])
    b2b, cog = requests(gdal, f"{url}/b02.b2b"), requests(gdal, f"{url}/b02.tif")
    for name, seen in (("b2b", b2b), ("COG", cog)):
        print(f"\n/vsicurl/ {name}: " + ", ".join(
            f"{what} {sum(m == 'GET' for m, _ in seen[what])} GET + {sum(m == 'HEAD' for m, _ in seen[what])} HEAD "
            f"({sum(n for _, n in seen[what]):,} bytes)" for what in ("open", "window", "overview")))
    assert b2b["pixels"] == src.GetRasterBand(1).ReadRaster(1024, 512, 256, 256)
    gets = lambda seen, what: sum(m == "GET" for m, _ in seen[what])  # noqa: E731
    assert gets(b2b, "open") <= 2 and sum(m == "HEAD" for m, _ in b2b["open"]) <= 1
    # at most one range request each; depending on the file's exact sizes a block or the smallest
    # overview (written last, just before the central directory) lies in what opening has read
    # already and needs none
    assert gets(b2b, "window") <= 1 and gets(b2b, "overview") <= 1
    assert gets(cog, "window") == 1  # the reference it matches
    size = (folder / "b02.b2b").stat().st_size
    assert sum(n for what in ("open", "window") for _, n in b2b[what]) < size / 4
