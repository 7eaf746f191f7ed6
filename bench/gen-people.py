#!/usr/bin/env python3
"""gen-people.py N [SUFFIX [GROUPS]] - LDIF of N fwdMailRecipient people for
the ldapsync benchmark, spread over ou=tum (tum.de, mytum.de) with a
realistic mix: 70 % exchange, 20 % mytum, 5 % external, 5 % alumni
(forward-only); 30 % have an alias, 10 % an extra forward.  Deterministic
(seeded).

With GROUPS > 0 (issue 10), also GROUPS distribution lists under ou=tum
(groupOfNames + fwdMailRecipient + fwdMailGroup, g<N>@tum.de): sizes from
2 to 100,000 members (heavy-tailed: most 2-50, one in 100 up to 5,000,
one in 10,000 up to 100,000 and the first one exactly min(100,000, N)),
nested up to 5 levels (a group of level L names one to three groups of
level L+1), one in 100 (1,000 of 100,000) a groupOfURLs whose memberURL
selects the people with one employeeNumber (people get employeeNumber
i % 1000 then); sender policies anyone/members/tenant/listed mixed."""
import random
import sys

n = int(sys.argv[1])
suffix = sys.argv[2] if len(sys.argv) > 2 else "dc=example,dc=org"
ngroups = int(sys.argv[3]) if len(sys.argv) > 3 else 0
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
    if ngroups:
        w("employeeNumber: %d\n" % (i % 1000))
    w("\n")

grnd = random.Random(815)
policies = ["anyone"] * 6 + ["members"] * 2 + ["tenant", "listed"]
for g in range(ngroups):
    cn = "g%06d" % g
    level = g % 5
    url = g % 100 == 99
    w("dn: cn=%s,ou=tum,%s\nobjectClass: %s\nobjectClass: fwdMailRecipient\n"
      "objectClass: fwdMailGroup\ncn: %s\nmail: %s@tum.de\n"
      % (cn, suffix, "groupOfURLs" if url else "groupOfNames", cn, cn))
    w("fwdGroupSenderPolicy: %s\n" % policies[g % len(policies)])
    if url:
        w("memberURL: ldap:///ou=tum,%s??sub?(employeeNumber=%d)\n" % (suffix, g % 1000))
        w("\n")
        continue
    if g == 0:
        size = min(100000, n)
    else:
        x = grnd.random()
        size = (grnd.randint(10001, 100000) if x < 0.0001
                else grnd.randint(51, 5000) if x < 0.01 else grnd.randint(2, 50))
        size = min(size, n)
    start = grnd.randrange(n)
    tail = ",ou=tum,%s\n" % suffix
    w("".join(["member: uid=u%07d%s" % ((start + k * 7919) % n, tail) for k in range(size)]))
    if level < 4 and grnd.random() < 0.2:
        for _ in range(grnd.randint(1, 3)):
            child = g + 1 + 5 * grnd.randrange(max(1, (ngroups - g - 1) // 5))  # level + 1
            if child < ngroups and child % 100 != 99:
                w("member: cn=g%06d,ou=tum,%s\n" % (child, suffix))
    if g % 50 == 0:
        w("fwdGroupAllowedSender: @lmu.de\n")
    w("\n")
