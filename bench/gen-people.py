#!/usr/bin/env python3
"""gen-people.py N [SUFFIX] - LDIF of N fwdMailRecipient people for the
ldapsync benchmark, spread over ou=tum (tum.de, mytum.de) with a realistic
mix: 70 % exchange, 20 % mytum, 5 % external, 5 % alumni (forward-only);
30 % have an alias, 10 % an extra forward.  Deterministic (seeded)."""
import random
import sys

n = int(sys.argv[1])
suffix = sys.argv[2] if len(sys.argv) > 2 else "dc=example,dc=org"
rnd = random.Random(4711)
out = sys.stdout
w = out.write
for i in range(n):
    uid = "u%07d" % i
    w("dn: uid=%s,ou=tum,%s\nobjectClass: inetOrgPerson\nobjectClass: fwdMailRecipient\n"
      "uid: %s\ncn: %s\nsn: %s\nmail: %s@tum.de\n" % (uid, suffix, uid, uid, uid, uid))
    r = rnd.random()
    if r < 0.70:
        w("fwdMailboxLocation: exchange\n")
    elif r < 0.90:
        w("fwdMailboxLocation: mytum\n")
    elif r < 0.95:
        w("fwdMailboxLocation: external\nfwdMailHost: mx%d.example.net\n" % (i % 50))
    else:
        w("fwdMailboxLocation: none\nfwdForwardAddress: %s@alumni.example.net\n" % uid)
    if rnd.random() < 0.30:
        w("fwdMailAlias: %s@mytum.de\n" % uid)
    if r < 0.95 and rnd.random() < 0.10:
        w("fwdForwardAddress: %s@gmail.example.com\n" % uid)
    w("\n")
