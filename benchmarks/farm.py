"""A feed farm on 127.0.0.1: N feeds x M items, article pages, validators, churn.

The farm writes every feed as a static file into a temporary directory and
serves it with nginx (``etag on``, ``if_modified_since exact``, pre-gzipped
twins via ``gzip_static``), so the server costs next to nothing.  Churn
rewrites a share of those files between polls (atomically, with an explicit
mtime one minute later, so ETag and Last-Modified always change).

When nginx is missing, or when a per-response latency is asked for, an aiohttp
server in its own process serves the same directory with the same rules.

Every response is logged as ``<status> <uri>`` to ``access.log`` so that each
benchmark phase can show what really went over the wire (200s vs 304s).

Run the aiohttp backend by hand: ``python -m benchmarks.farm serve ROOT PORT [LATENCY]``.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Self
from xml.sax.saxutils import escape, quoteattr

from benchmarks.corpus import ItemMaterial, load_material, page_bytes, synthetic_page

FILE_EPOCH = int(time.time()) - 86400  # mtime of generation 0
ITEM_EPOCH = FILE_EPOCH - 30 * 86400  # pubDate of item 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_address(j: int, hosts: int) -> str:
    """The loopback address of farm host ``j`` of ``hosts``: 127.0.0.1 for a one-host farm,
    else 127.0.1.1, 127.0.1.2 ... (Linux routes all of 127.0.0.0/8 to the loopback device)."""
    if hosts <= 1:
        return "127.0.0.1"
    return f"127.0.{1 + j // 250}.{1 + j % 250}"


def item_count(i: int, n_items: int, sizes: str, seed: int) -> int:
    """Items in feed ``i``: ``n_items`` for every feed ("fixed"), or, for "real", a
    log-normal spread around ``n_items`` (median) clipped to [5, 4 x n_items], as real
    feeds range from a handful of items to a hundred."""
    if sizes != "real":
        return n_items
    import math

    rng = random.Random(f"{seed}:size:{i}")
    k = round(math.exp(rng.gauss(math.log(n_items), 0.6)))
    return max(5, min(4 * n_items, k))


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"farm did not come up on {host}:{port}")


@dataclass
class FarmSpec:
    """Everything a worker process needs to find and churn the farm."""

    root: str
    port: int
    n_feeds: int
    n_items: int
    desc_len: int = 600
    new_per_change: int = 2
    gzip: bool = True
    seed: int = 1
    backend: str = "nginx"
    latency: float = 0.0
    gens: list[int] = field(default_factory=list)
    hosts: int = 1
    sizes: str = "fixed"
    #: a word added to the titles of items published after generation 0 (the latency
    #: scenario's topic matches it, so only new items alert)
    marker: str = ""
    #: log each response's time (nginx ``$msec``) after its URI
    log_time: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FarmSpec:
        return cls(**json.loads(text))


class Farm:
    def __init__(
        self,
        n_feeds: int,
        n_items: int,
        *,
        desc_len: int = 600,
        latency: float = 0.0,
        backend: str = "auto",
        gzip_static: bool = True,
        new_per_change: int = 2,
        material: ItemMaterial | None = None,
        root: str | None = None,
        seed: int = 1,
        hosts: int = 1,
        sizes: str = "fixed",
        marker: str = "",
        log_time: bool = False,
    ) -> None:
        if backend == "auto":
            backend = "nginx" if shutil.which("nginx") and latency <= 0 else "aiohttp"
        if backend == "nginx" and latency > 0:
            raise ValueError("the nginx farm cannot add latency; use --farm aiohttp")
        self.material = material or load_material(desc_len)
        self.spec = FarmSpec(
            root=root or tempfile.mkdtemp(prefix="aggbench-farm-"),
            port=0,
            n_feeds=n_feeds,
            n_items=n_items,
            desc_len=desc_len,
            new_per_change=new_per_change,
            gzip=gzip_static,
            seed=seed,
            backend=backend,
            latency=latency,
            gens=[0] * n_feeds,
            hosts=hosts,
            sizes=sizes,
            marker=marker,
            log_time=log_time,
        )
        self._own_root = root is None
        #: publication times of items published live (the latency scenario), by (feed, k)
        self.pub_times: dict[tuple[int, int], float] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.n_pages = 0

    # ------------------------------------------------------------------ files
    @property
    def root(self) -> Path:
        return Path(self.spec.root)

    @property
    def base(self) -> str:
        return self.base_of(0)

    def base_of(self, i: int) -> str:
        """The site feed ``i`` lives on (feeds are dealt to the hosts in turn)."""
        return f"http://{host_address(i % self.spec.hosts, self.spec.hosts)}:{self.spec.port}"

    def addresses(self) -> list[str]:
        return [host_address(j, self.spec.hosts) for j in range(max(1, self.spec.hosts))]

    def items_of(self, i: int) -> int:
        return item_count(i, self.spec.n_items, self.spec.sizes, self.spec.seed)

    def name(self, i: int) -> str:
        return f"f{i:05d}"

    def filename(self, i: int) -> str:
        return f"{self.name(i)}.{'rss' if i % 2 == 0 else 'atom'}"

    def url(self, i: int) -> str:
        return f"{self.base_of(i)}/feeds/{self.filename(i)}"

    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.spec.n_feeds)]

    def generate(self) -> dict[str, float]:
        """Write pages and every feed at generation 0. Returns size statistics."""
        if self.spec.port == 0:
            self.spec.port = free_port()
        for sub in ("feeds", "pages", "logs", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        pages = self.material.pages
        if pages:
            for i, p in enumerate(pages):
                (self.root / "pages" / f"{i}.html").write_bytes(page_bytes(p))
            self.n_pages = len(pages)
        else:
            self.n_pages = 20
            for i in range(self.n_pages):
                (self.root / "pages" / f"{i}.html").write_bytes(synthetic_page(i, self.material))
        sizes = []
        for i in range(self.spec.n_feeds):
            self.spec.gens[i] = 0
            sizes.append(self.write_feed(i))
        return {"feed_bytes_mean": sum(sizes) / len(sizes), "feed_bytes_total": float(sum(sizes))}

    def reset(self) -> None:
        """Back to generation 0 (only the feeds that moved are rewritten)."""
        shutil.rmtree(self.root / "staged", ignore_errors=True)
        for i, g in enumerate(self.spec.gens):
            if g:
                self.spec.gens[i] = 0
                self.write_feed(i)

    def churn(self, fraction: float, rng: random.Random) -> list[int]:
        """Give ``fraction`` of the feeds ``new_per_change`` new items each."""
        k = max(1, round(self.spec.n_feeds * fraction)) if fraction > 0 else 0
        changed = sorted(rng.sample(range(self.spec.n_feeds), k))
        for i in changed:
            self.spec.gens[i] += 1
            self.write_feed(i)
        return changed

    def _item(self, i: int, k: int) -> dict[str, str]:
        rng = random.Random(f"{self.spec.seed}:{i}:{k}")
        page = rng.randrange(self.n_pages or 1)
        live = self.pub_times.get((i, k))
        ts = datetime.fromtimestamp(live if live else ITEM_EPOCH + k * 3600 + i, tz=UTC)
        title = f"{self.material.title(rng)} ({self.name(i)} #{k})"
        desc = self.material.description(rng)
        if self.spec.marker and k >= self.items_of(i):
            # in the description too: an extracted page's own title replaces the feed's
            title, desc = f"{title} {self.spec.marker}", f"{desc} {self.spec.marker}"
        return {
            "title": title,
            "link": f"{self.base_of(i)}/a/{page}/{self.name(i)}-{k}.html",
            "guid": f"urn:bench:{self.name(i)}:{k}",
            "date822": format_datetime(ts, usegmt=True),
            "date3339": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "desc": desc,
        }

    def render(self, i: int) -> bytes:
        g = self.spec.gens[i]
        first = g * self.spec.new_per_change
        ks = range(first + self.items_of(i) - 1, first - 1, -1)  # newest first
        items = [self._item(i, k) for k in ks]
        updated = items[0]
        if i % 2 == 0:
            body = "".join(
                f"<item><title>{escape(it['title'])}</title><link>{escape(it['link'])}</link>"
                f'<guid isPermaLink="false">{it["guid"]}</guid><pubDate>{it["date822"]}</pubDate>'
                f"<description>{escape(it['desc'])}</description></item>\n"
                for it in items
            )
            doc = (
                '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                f"<title>Bench feed {self.name(i)}</title><link>{self.base_of(i)}/</link>"
                f"<description>Benchmark feed {self.name(i)}</description><language>en</language>"
                f"<lastBuildDate>{updated['date822']}</lastBuildDate>\n{body}</channel></rss>\n"
            )
        else:
            body = "".join(
                f'<entry><title type="html">{escape(it["title"])}</title>'
                f"<link href={quoteattr(it['link'])}/><id>{it['guid']}</id>"
                f"<published>{it['date3339']}</published><updated>{it['date3339']}</updated>"
                f'<summary type="html">{escape(it["desc"])}</summary></entry>\n'
                for it in items
            )
            doc = (
                '<?xml version="1.0" encoding="utf-8"?>\n'
                '<feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>Bench feed {self.name(i)}</title><id>urn:bench:{self.name(i)}</id>"
                f'<updated>{updated["date3339"]}</updated><link href="{self.base_of(i)}/"/>'
                f'<link rel="self" href="{self.url(i)}"/>'
                f"<author><name>Bench</name></author>\n{body}</feed>\n"
            )
        return doc.encode("utf-8")

    def stage_churn(self, cycle: int, fraction: float, rng: random.Random) -> list[int]:
        """Render churn cycle ``cycle`` into ``staged/<cycle>/`` (moved in by the worker)."""
        dest = self.root / "staged" / str(cycle)
        dest.mkdir(parents=True, exist_ok=True)
        k = max(1, round(self.spec.n_feeds * fraction)) if fraction > 0 else 0
        changed = sorted(rng.sample(range(self.spec.n_feeds), k))
        for i in changed:
            self.spec.gens[i] += 1
            self.write_feed(i, dest)
        return changed

    def write_feed(self, i: int, dest: Path | None = None) -> int:
        data = self.render(i)
        mtime = FILE_EPOCH + 60 * self.spec.gens[i]
        path = (dest or self.root / "feeds") / self.filename(i)
        self._atomic_write(path, data, mtime)
        if self.spec.gzip:
            self._atomic_write(Path(str(path) + ".gz"), gzip.compress(data, 6, mtime=0), mtime)
        return len(data)

    @staticmethod
    def _atomic_write(path: Path, data: bytes, mtime: int) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)

    # ----------------------------------------------------------------- server
    def _nginx_conf(self) -> Path:
        r = self.root
        listens = "\n        ".join(
            f"listen {a}:{self.spec.port} backlog=4096;" for a in self.addresses()
        )
        conf = f"""
worker_processes 2;
daemon off;
pid {r}/logs/nginx.pid;
error_log {r}/logs/error.log warn;
user root;
events {{ worker_connections 8192; multi_accept on; }}
http {{
    types {{ application/rss+xml rss; application/atom+xml atom; text/html html; }}
    default_type application/octet-stream;
    log_format st '$status $uri{" $msec" if self.spec.log_time else ""}';
    access_log {r}/logs/access.log st;
    client_body_temp_path {r}/tmp/body;
    proxy_temp_path {r}/tmp/proxy;
    fastcgi_temp_path {r}/tmp/fastcgi;
    uwsgi_temp_path {r}/tmp/uwsgi;
    scgi_temp_path {r}/tmp/scgi;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    etag on;
    if_modified_since exact;
    gzip_static {"on" if self.spec.gzip else "off"};
    server {{
        {listens}
        root {r};
        location /feeds/ {{ }}
        location /a/ {{
            rewrite ^/a/(\\d+)/.*$ /pages/$1.html break;
        }}
        location = /health {{ return 200 "ok"; }}
    }}
}}
"""
        path = r / "nginx.conf"
        path.write_text(conf)
        return path

    def start(self) -> None:
        if self.spec.port == 0:
            self.spec.port = free_port()
        (self.root / "logs" / "access.log").touch()
        if self.spec.backend == "nginx":
            conf = self._nginx_conf()
            self.proc = subprocess.Popen(
                ["nginx", "-c", str(conf), "-p", str(self.root)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        else:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.farm",
                    "serve",
                    str(self.root),
                    str(self.spec.port),
                    str(self.spec.latency),
                    "1" if self.spec.gzip else "0",
                    ",".join(self.addresses()),
                    "1" if self.spec.log_time else "0",
                ],
                cwd=str(Path(__file__).resolve().parent.parent),
            )
        try:
            wait_port(self.spec.port, host=self.addresses()[0])
        except RuntimeError:
            err = b""
            if self.proc.stderr:
                self.proc.kill()
                err = self.proc.stderr.read()
            raise RuntimeError(f"farm failed to start: {err.decode(errors='replace')}") from None

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(
                    signal.SIGTERM if self.spec.backend != "nginx" else signal.SIGQUIT
                )
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


# ---------------------------------------------------------------- access log
def log_mark(root: str | Path) -> int:
    try:
        return os.path.getsize(Path(root) / "logs" / "access.log")
    except OSError:
        return 0


def log_counts(root: str | Path, since: int) -> dict[str, int]:
    """Responses since ``since`` as {'feed 200': n, 'feed 304': n, 'page 200': n, ...}."""
    c: Counter[str] = Counter()
    with open(Path(root) / "logs" / "access.log", "rb") as f:
        f.seek(since)
        for line in f:
            parts = line.split(b" ", 1)
            if len(parts) != 2:
                continue
            kind = "feed" if parts[1].startswith(b"/feeds/") else "page"
            c[f"{kind} {parts[0].decode()}"] += 1
    return dict(sorted(c.items()))


# ------------------------------------------------------------ aiohttp backend
def serve_aiohttp(
    root: str,
    port: int,
    latency: float,
    gz: bool,
    hosts: tuple[str, ...] = ("127.0.0.1",),
    log_time: bool = False,
) -> None:
    """Same rules as the nginx config, for machines without nginx or with latency
    (``log_time``: each line ends with the response's time, as nginx ``$msec``)."""
    import asyncio

    from aiohttp import web

    rootp = Path(root)
    logfd = os.open(rootp / "logs" / "access.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    cache: dict[str, tuple[int, int, bytes]] = {}

    def stamp() -> str:
        return f" {time.time():.3f}" if log_time else ""

    def load(path: Path) -> tuple[int, int, bytes] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = str(path)
        hit = cache.get(key)
        if hit and hit[0] == int(st.st_mtime) and hit[1] == st.st_size:
            return hit
        ent = (int(st.st_mtime), st.st_size, path.read_bytes())
        cache[key] = ent
        return ent

    async def handle(request: web.Request) -> web.StreamResponse:
        if latency > 0:
            await asyncio.sleep(latency)
        p = request.path
        headers: dict[str, str] = {}
        if p.startswith("/feeds/"):
            path = rootp / "feeds" / os.path.basename(p)
            ctype = "application/rss+xml" if p.endswith(".rss") else "application/atom+xml"
        elif p.startswith("/a/"):
            num = p.split("/")[2]
            path = rootp / "pages" / f"{num}.html"
            ctype = "text/html"
        else:
            return web.Response(text="ok")
        ent = None
        if gz and "gzip" in request.headers.get("Accept-Encoding", ""):
            ent = load(Path(str(path) + ".gz"))
            if ent:
                headers["Content-Encoding"] = "gzip"
        if ent is None:
            ent = load(path)
        if ent is None:
            os.write(logfd, f"404 {p}\n".encode())
            return web.Response(status=404)
        mtime, size, body = ent
        etag = f'"{mtime:x}-{size:x}"'
        lm = format_datetime(datetime.fromtimestamp(mtime, tz=UTC), usegmt=True)
        headers.update({"ETag": etag, "Last-Modified": lm, "Content-Type": ctype})
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        if (inm is not None and etag in inm) or (inm is None and ims == lm):
            os.write(logfd, f"304 {p}{stamp()}\n".encode())
            headers.pop("Content-Encoding", None)
            headers.pop("Content-Type", None)
            return web.Response(status=304, headers=headers)
        os.write(logfd, f"200 {p}{stamp()}\n".encode())
        return web.Response(body=body, headers=headers)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    web.run_app(
        app,
        host=list(hosts),
        port=port,
        print=None,
        access_log=None,
        handle_signals=True,
        backlog=4096,
    )


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "serve":
        serve_aiohttp(
            sys.argv[2],
            int(sys.argv[3]),
            float(sys.argv[4]) if len(sys.argv) > 4 else 0.0,
            (sys.argv[5] != "0") if len(sys.argv) > 5 else True,
            tuple(sys.argv[6].split(",")) if len(sys.argv) > 6 else ("127.0.0.1",),
            len(sys.argv) > 7 and sys.argv[7] == "1",
        )
    else:
        print(__doc__)
        sys.exit(2)
