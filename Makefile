# fwdmap - address-routing mail forwarder with LDAP provisioning.
#
#   make            build everything into $(B)/ (default build/)
#   make check      install missing packages, build, run every test
#                   (including an ASan/UBSan build and a short fuzz run)
#   make demo       the main job on the embedded sample directory
#   make bench      benchmarks (results go to docs/benchmarks.md by hand)
#   make fuzz       longer libFuzzer runs
#   make install    the programs, man pages, schema, units; honours PREFIX
#                   and DESTDIR (make uninstall: the same, removed)
#   make deb        the Debian package, into build-deb/ (then lintian)
#
# Sources are found by wildcard: maps/*.c form libfwdmap.a; fwdmapd/*.c and
# ldapsync/*.c each form a library of their modules plus one program whose
# main() is in <dir>/main.c; fwdmap/*.c is the admin tool fwdmap.

PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
DATADIR	?= $(PREFIX)/share/fwdmap
SYSCONFDIR ?= /etc
DESTDIR	?=

B	?= build
CC	?= cc
OPT	?= -O2 -g
WARN	= -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	  -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 \
	  -Wno-format-nonliteral -Werror
CPPFLAGS += -D_GNU_SOURCE -Imaps -Ifwdmapd -Ildapsync -Ifwdmap
CFLAGS	+= -std=c11 $(OPT) $(WARN) -fno-strict-aliasing
# libmicrohttpd serves /metrics (maps/metrics_http.c).
MHD_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
LDLIBS	+= -lcdb -ljansson -lldap -llber -lnettle $(MHD_LIBS) -lpthread -lm

MAPS_SRC	:= $(wildcard maps/*.c)
FWDMAP_SRC	:= $(wildcard fwdmap/*.c)
FWDMAPD_SRC	:= $(filter-out fwdmapd/main.c,$(wildcard fwdmapd/*.c))
LDAPSYNC_SRC	:= $(filter-out ldapsync/main.c,$(wildcard ldapsync/*.c))
UNIT_SRC	:= $(wildcard tests/unit/t_*.c)
BENCH_SRC	:= $(wildcard bench/*.c)

MAPS_OBJ	:= $(MAPS_SRC:%.c=$(B)/obj/%.o)
FWDMAP_OBJ	:= $(FWDMAP_SRC:%.c=$(B)/obj/%.o)
FWDMAPD_OBJ	:= $(FWDMAPD_SRC:%.c=$(B)/obj/%.o)
LDAPSYNC_OBJ	:= $(LDAPSYNC_SRC:%.c=$(B)/obj/%.o)

LIBMAPS		:= $(B)/libfwdmap.a
LIBFWDMAPD	:= $(B)/libfwdmapd.a
LIBLDAPSYNC	:= $(B)/libldapsync.a

PROGS	:= $(B)/fwdmapd $(B)/ldapsync $(B)/fwdmap
UNITS	:= $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
BENCHES	:= $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all fwdmapd ldapsync maps fwdmap check check-fast unit asan fuzz fuzz-build bench demo soak \
	install uninstall clean deps deps-runtime deb
all: $(PROGS) $(UNITS) $(BENCHES)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# A library is rebuilt when its list of members changes too, so that a
# module moved to another directory does not stay behind in the old
# library: $(B)/obj/NAME.members is rewritten only when the list differs.
MEMBERS_maps	= $(MAPS_OBJ)
MEMBERS_fwdmapd	= $(FWDMAPD_OBJ)
MEMBERS_ldapsync = $(LDAPSYNC_OBJ)
$(B)/obj/%.members: FORCE
	@mkdir -p $(@D)
	@echo '$(MEMBERS_$*)' | cmp -s - $@ || echo '$(MEMBERS_$*)' > $@
FORCE:

$(LIBMAPS): $(MAPS_OBJ) $(B)/obj/maps.members
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(filter %.o,$^)
$(LIBFWDMAPD): $(FWDMAPD_OBJ) $(B)/obj/fwdmapd.members
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(filter %.o,$^)
$(LIBLDAPSYNC): $(LDAPSYNC_OBJ) $(B)/obj/ldapsync.members
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(filter %.o,$^)

fwdmapd: $(B)/fwdmapd
ldapsync: $(B)/ldapsync
maps: $(LIBMAPS)
fwdmap: $(B)/fwdmap

$(B)/fwdmapd: $(B)/obj/fwdmapd/main.o $(LIBFWDMAPD) $(LIBMAPS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/ldapsync: $(B)/obj/ldapsync/main.o $(LIBLDAPSYNC) $(LIBMAPS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/fwdmap: $(FWDMAP_OBJ) $(LIBMAPS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests and benchmark programs link every library.
$(B)/tests/%: $(B)/obj/tests/unit/%.o $(LIBFWDMAPD) $(LIBLDAPSYNC) $(LIBMAPS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bench/%: $(B)/obj/bench/%.o $(LIBFWDMAPD) $(LIBLDAPSYNC) $(LIBMAPS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lpthread

# Keep the objects of the unit tests and benchmarks (made by a chain of
# pattern rules, so otherwise deleted as intermediate).
.SECONDARY: $(UNIT_SRC:%.c=$(B)/obj/%.o) $(BENCH_SRC:%.c=$(B)/obj/%.o)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

deps:
	@scripts/install-deps.sh

# A production forwarder built from source: build and run-time packages
# only, no test tools (no slapd, clang, strace).
deps-runtime:
	@scripts/install-deps.sh --runtime

# The full test suite: packages, normal build, sanitizer build, tests on
# both, a short fuzz run.  tests/run.sh prints "N passed, N failed, N
# skipped"; FWDMAP_STRICT=1 makes every skip a failure except the few on
# its allow-list (no clang or no libFuzzer for the fuzz step).
# Both builds and the fuzz targets compile on every core.
JOBS	?= $(shell nproc 2>/dev/null || echo 2)

check: deps
	$(MAKE) -j$(JOBS) all
	$(MAKE) -j$(JOBS) B=build-asan CC=clang OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" all
	FWDMAP_STRICT=1 FWDMAP_JOBS=$(JOBS) tests/run.sh

# Quick loop for developers: no package check, no sanitizers.
check-fast: all
	FWDMAP_NO_ASAN=1 tests/run.sh $(T)

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS  := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
# Each target links every library's modules (the maps, fwdmapd's and
# ldapsync's), compiled once for all targets with coverage instrumentation
# (fuzzer-no-link) and the project's warning flags.
FUZZ_CFLAGS := -std=c11 -g -O1 $(WARN) -fno-strict-aliasing
FUZZ_OBJ := $(patsubst %.c,build-fuzz/obj/%.o,$(MAPS_SRC) $(FWDMAPD_SRC) $(LDAPSYNC_SRC))
build-fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined \
		-MMD -MP -c -o $@ $<
build-fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ) $(wildcard tests/fuzz/*.h tests/unit/*.h)
	@mkdir -p $(@D)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(FUZZ_OBJ) $(LDLIBS)
-include $(FUZZ_OBJ:.o=.d)
fuzz-build: $(FUZZERS)
fuzz: fuzz-build
	tests/fuzz/run.sh 300

bench: deps all
	bench/run.sh

soak: deps all
	bench/soak.sh

# make demo DEMO_ARGS=--keep-running: keep it all running after the verdict.
demo: deps all
	scripts/demo.sh $(DEMO_ARGS)

# What make install puts where, and make uninstall takes away.
MAN1		:= $(wildcard docs/man/*.1)
MAN5		:= $(wildcard docs/man/*.5)
MAN8		:= $(wildcard docs/man/*.8)
SCHEMA_FILES	:= $(wildcard schema/*)
SYSTEMD_FILES	:= $(wildcard scripts/systemd/*)
MONITOR_FILES	:= $(wildcard docs/monitoring/*)
INSTALLED	:= $(SBINDIR)/fwdmapd $(SBINDIR)/ldapsync $(BINDIR)/fwdmap \
		   $(MAN1:docs/man/%=$(MANDIR)/man1/%) \
		   $(MAN5:docs/man/%=$(MANDIR)/man5/%) \
		   $(MAN8:docs/man/%=$(MANDIR)/man8/%) \
		   $(SCHEMA_FILES:schema/%=$(DATADIR)/schema/%) \
		   $(SYSTEMD_FILES:scripts/systemd/%=$(DATADIR)/systemd/%) \
		   $(MONITOR_FILES:docs/monitoring/%=$(DATADIR)/monitoring/%)

# Builds the three programs only (no tests, no benchmarks); every step is
# checked, so a file that cannot be installed fails the install.
install: $(PROGS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DATADIR)/schema \
		$(DESTDIR)$(DATADIR)/systemd $(DESTDIR)$(DATADIR)/monitoring
	install -m 0755 $(B)/fwdmapd $(B)/ldapsync $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(B)/fwdmap $(DESTDIR)$(BINDIR)/
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(SCHEMA_FILES) $(DESTDIR)$(DATADIR)/schema/
	install -m 0644 $(MONITOR_FILES) $(DESTDIR)$(DATADIR)/monitoring/
	set -e; for f in $(SYSTEMD_FILES); do \
		t=$(DESTDIR)$(DATADIR)/systemd/$$(basename "$$f"); \
		sed -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/etc/fwdmap/|$(SYSCONFDIR)/fwdmap/|g' \
			"$$f" > "$$t"; \
		chmod 0644 "$$t"; \
	done

# Removes what make install installed (same PREFIX and DESTDIR), and
# DATADIR once it is empty; shared directories (bin, sbin, man) stay.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	set -e; for d in $(DESTDIR)$(DATADIR)/schema $(DESTDIR)$(DATADIR)/systemd \
		$(DESTDIR)$(DATADIR)/monitoring $(DESTDIR)$(DATADIR); do \
		[ ! -d "$$d" ] || rmdir --ignore-fail-on-non-empty "$$d"; \
	done

# The Debian package (debian/), built unsigned and binary-only from a copy
# of the tree, so that neither the tree nor its parent directory gets the
# build's files: build-deb/fwdmap_VERSION_ARCH.deb, then lintian on it
# (an error fails the target; the tags kept, info level only, are listed
# with the reason at the top of debian/rules).
DEB_DIR	?= build-deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src/fwdmap
	tar -cf - --exclude=./build --exclude='./build-*' --exclude=./.git . | tar -xf - -C $(DEB_DIR)/src/fwdmap
	cd $(DEB_DIR)/src/fwdmap && dpkg-buildpackage -us -uc -b > ../../dpkg-buildpackage.log 2>&1 || \
		{ tail -n 30 ../../dpkg-buildpackage.log; exit 1; }
	mv $(DEB_DIR)/src/*.deb $(DEB_DIR)/src/*.changes $(DEB_DIR)/src/*.buildinfo $(DEB_DIR)/
	rm -rf $(DEB_DIR)/src
	lintian --fail-on error -I $(DEB_DIR)/*.changes | tee $(DEB_DIR)/lintian.log
	@ls $(DEB_DIR)/*.deb

clean:
	rm -rf build build-asan build-fuzz build-deb
