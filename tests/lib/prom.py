#!/usr/bin/python3
# tests/lib/prom.py - scrape a fwdmap /metrics endpoint and validate it with
# the real Prometheus parser (Debian's python3-prometheus-client).  Run with
# /usr/bin/python3 (the python3 on PATH may not be Debian's).
#
#   prom.py scrape URL [OUT]   fetch URL; fail unless the status is 200, the
#                              content type Prometheus text 0.0.4, and
#                              prometheus_client parses it with every
#                              family documented (HELP), named fwdmap_*,
#                              counters ending in _total and holding no
#                              negative or non-integer value, every
#                              histogram's buckets cumulative with
#                              le="+Inf" == _count.  Prints one canonical
#                              line per sample: name{k="v",...} value
#                              (labels sorted); the raw text goes to OUT.
#   prom.py status URL [METHOD]   print the HTTP status code only
import sys
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fail(msg):
    print("prom.py: " + msg, file=sys.stderr)
    sys.exit(1)


# Straight to the daemon: never through an http_proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url, method="GET"):
    req = urllib.request.Request(url, method=method)
    try:
        with _opener.open(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode("utf-8", "replace")


def fmt(v):
    return str(int(v)) if v == int(v) else repr(v)


def scrape(url, out=None):
    status, ctype, text = fetch(url)
    if out:
        with open(out, "w") as f:
            f.write(text)
    if status != 200:
        fail("%s: HTTP %d" % (url, status))
    if not ctype.startswith("text/plain") or "version=0.0.4" not in ctype:
        fail("%s: Content-Type %r" % (url, ctype))
    if not text.strip():
        fail("%s: empty body" % url)
    helped = set(l.split()[2] for l in text.splitlines() if l.startswith("# HELP "))
    lines = []
    try:
        fams = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser's own verdict
        fail("%s: prometheus_client cannot parse it: %s" % (url, e))
    if not fams:
        fail("%s: no metric families" % url)
    for fam in fams:
        if not fam.name.startswith("fwdmap_"):
            fail("family %s lacks the fwdmap_ prefix" % fam.name)
        exposed = fam.name + "_total" if fam.type == "counter" else fam.name
        if exposed not in helped:
            fail("family %s has no HELP" % exposed)
        buckets = {}
        counts = {}
        for s in fam.samples:
            if fam.type == "counter" and s.name.endswith("_total"):
                if s.value < 0 or s.value != int(s.value):
                    fail("counter %s = %r" % (s.name, s.value))
            if fam.type == "counter" and not s.name.endswith(("_total", "_created")):
                fail("counter sample %s does not end in _total" % s.name)
            labels = dict(s.labels)
            if fam.type == "histogram":
                key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    le = float(labels["le"])
                    buckets.setdefault(key, []).append((le, s.value))
                elif s.name.endswith("_count"):
                    counts[key] = s.value
            lab = ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels))
            lines.append("%s%s %s" % (s.name, "{" + lab + "}" if lab else "", fmt(s.value)))
        for key, bl in buckets.items():
            vals = [v for _, v in sorted(bl)]
            if any(b > a for a, b in zip(vals[1:], vals[:-1])):
                fail("%s%r: buckets not cumulative" % (fam.name, key))
            if sorted(bl)[-1][0] != float("inf") or vals[-1] != counts.get(key):
                fail("%s%r: +Inf bucket %r != _count %r" % (fam.name, key, vals[-1], counts.get(key)))
    print("\n".join(lines))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "scrape":
        scrape(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    elif len(sys.argv) >= 3 and sys.argv[1] == "status":
        print(fetch(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "GET")[0])
    else:
        fail("usage: prom.py scrape URL [OUT] | status URL [METHOD]")


main()
