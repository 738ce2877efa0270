# fuzz/local.mk - libFuzzer targets and their replay programs (included by
# Makefile.am; paths are relative to the top). doc/fuzzing.md explains.
#
#  - Every build: fuzz/replay_NAME (check_PROGRAMS) run each target's
#    LLVMFuzzerTestOneInput on the files given, with the normal compiler;
#    t/fuzz_replay.sh replays fuzz/corpus/NAME and fuzz/regressions/NAME.
#  - ./configure CC=clang --enable-fuzzing: `make fuzz` builds fuzz/fuzz_NAME
#    (libFuzzer) and runs each for FUZZ_SECONDS (`make -j2 fuzz` runs two at
#    a time); FUZZ_FLAGS adds libFuzzer options (e.g. -jobs=2, -dict=FILE).

FUZZ_NAMES = yaml checkpoint idx csv png image folder
FUZZ_COMMON = fuzz/fuzz.h fuzz/fuzz_util.c
# The library's objects (lib/libcnn_core.la: the targets call internal
# functions) and its own dependencies (CORE_LIBS, in Makefile.am; PNG_LIBS
# and JPEG_LIBS are empty --without-png, --without-jpeg).
FUZZ_LIBS = $(CORE_LIBS)

check_PROGRAMS += fuzz/replay_yaml fuzz/replay_checkpoint fuzz/replay_idx \
	fuzz/replay_csv fuzz/replay_png fuzz/replay_image fuzz/replay_folder
fuzz_replay_yaml_SOURCES = fuzz/replay.c fuzz/fuzz_yaml.c $(FUZZ_COMMON)
fuzz_replay_yaml_LDADD = $(FUZZ_LIBS)
fuzz_replay_checkpoint_SOURCES = fuzz/replay.c fuzz/fuzz_checkpoint.c \
	$(FUZZ_COMMON)
fuzz_replay_checkpoint_LDADD = $(FUZZ_LIBS)
fuzz_replay_idx_SOURCES = fuzz/replay.c fuzz/fuzz_idx.c $(FUZZ_COMMON)
fuzz_replay_idx_LDADD = $(FUZZ_LIBS)
fuzz_replay_csv_SOURCES = fuzz/replay.c fuzz/fuzz_csv.c $(FUZZ_COMMON)
fuzz_replay_csv_LDADD = $(FUZZ_LIBS)
fuzz_replay_png_SOURCES = fuzz/replay.c fuzz/fuzz_png.c $(FUZZ_COMMON)
fuzz_replay_png_LDADD = $(FUZZ_LIBS)
fuzz_replay_image_SOURCES = fuzz/replay.c fuzz/fuzz_image.c $(FUZZ_COMMON)
fuzz_replay_image_LDADD = $(FUZZ_LIBS)
fuzz_replay_folder_SOURCES = fuzz/replay.c fuzz/fuzz_folder.c $(FUZZ_COMMON)
fuzz_replay_folder_LDADD = $(FUZZ_LIBS)

EXTRA_DIST += fuzz/run.sh fuzz/corpus fuzz/regressions

FUZZ_SECONDS = 60
FUZZ_FLAGS =

if FUZZING
# Built only by `make fuzz` (EXTRA_PROGRAMS), linked with libFuzzer's main.
FUZZERS = fuzz/fuzz_yaml fuzz/fuzz_checkpoint fuzz/fuzz_idx \
	fuzz/fuzz_csv fuzz/fuzz_png fuzz/fuzz_image fuzz/fuzz_folder
EXTRA_PROGRAMS += $(FUZZERS)
CLEANFILES += fuzz/fuzz_yaml$(EXEEXT) fuzz/fuzz_checkpoint$(EXEEXT) \
	fuzz/fuzz_idx$(EXEEXT) fuzz/fuzz_csv$(EXEEXT) fuzz/fuzz_png$(EXEEXT) \
	fuzz/fuzz_image$(EXEEXT) fuzz/fuzz_folder$(EXEEXT)
FUZZ_LINK = -fsanitize=fuzzer
fuzz_fuzz_yaml_SOURCES = fuzz/fuzz_yaml.c $(FUZZ_COMMON)
fuzz_fuzz_yaml_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_yaml_LDFLAGS = $(FUZZ_LINK)
fuzz_fuzz_checkpoint_SOURCES = fuzz/fuzz_checkpoint.c $(FUZZ_COMMON)
fuzz_fuzz_checkpoint_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_checkpoint_LDFLAGS = $(FUZZ_LINK)
fuzz_fuzz_idx_SOURCES = fuzz/fuzz_idx.c $(FUZZ_COMMON)
fuzz_fuzz_idx_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_idx_LDFLAGS = $(FUZZ_LINK)
fuzz_fuzz_csv_SOURCES = fuzz/fuzz_csv.c $(FUZZ_COMMON)
fuzz_fuzz_csv_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_csv_LDFLAGS = $(FUZZ_LINK)
fuzz_fuzz_png_SOURCES = fuzz/fuzz_png.c $(FUZZ_COMMON)
fuzz_fuzz_png_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_png_LDFLAGS = $(FUZZ_LINK)
fuzz_fuzz_image_SOURCES = fuzz/fuzz_image.c $(FUZZ_COMMON)
fuzz_fuzz_image_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_image_LDFLAGS = $(FUZZ_LINK)
fuzz_fuzz_folder_SOURCES = fuzz/fuzz_folder.c $(FUZZ_COMMON)
fuzz_fuzz_folder_LDADD = $(FUZZ_LIBS)
fuzz_fuzz_folder_LDFLAGS = $(FUZZ_LINK)

# One rule per target, so that `make -j2 fuzz` runs two at a time; each
# prints its summary line. fuzz/run.sh says where everything goes.
FUZZ_RUN = $(SHELL) $(srcdir)/fuzz/run.sh
fuzz-yaml: fuzz/fuzz_yaml$(EXEEXT)
	@$(FUZZ_RUN) yaml $(FUZZ_SECONDS) $(srcdir) $(FUZZ_FLAGS)
fuzz-checkpoint: fuzz/fuzz_checkpoint$(EXEEXT)
	@$(FUZZ_RUN) checkpoint $(FUZZ_SECONDS) $(srcdir) $(FUZZ_FLAGS)
fuzz-idx: fuzz/fuzz_idx$(EXEEXT)
	@$(FUZZ_RUN) idx $(FUZZ_SECONDS) $(srcdir) $(FUZZ_FLAGS)
fuzz-csv: fuzz/fuzz_csv$(EXEEXT)
	@$(FUZZ_RUN) csv $(FUZZ_SECONDS) $(srcdir) $(FUZZ_FLAGS)
fuzz-png: fuzz/fuzz_png$(EXEEXT)
	@$(FUZZ_RUN) png $(FUZZ_SECONDS) $(srcdir) $(FUZZ_FLAGS)
fuzz-image: fuzz/fuzz_image$(EXEEXT)
	@$(FUZZ_RUN) image $(FUZZ_SECONDS) $(srcdir) $(FUZZ_FLAGS)
fuzz-folder: fuzz/fuzz_folder$(EXEEXT)
	@$(FUZZ_RUN) folder $(FUZZ_SECONDS) $(srcdir) $(FUZZ_FLAGS)
fuzz: fuzz-yaml fuzz-checkpoint fuzz-idx fuzz-csv fuzz-png fuzz-image \
	fuzz-folder

# Removes the work corpora, the artifacts and the logs of `make fuzz`
# (not done by `make clean`: a work corpus is worth keeping).
fuzz-clean:
	-rm -rf fuzz/work fuzz/artifacts
	-rm -f fuzz/yaml.log fuzz/checkpoint.log fuzz/idx.log fuzz/csv.log \
	    fuzz/png.log fuzz/image.log fuzz/folder.log
else
fuzz fuzz-yaml fuzz-checkpoint fuzz-idx fuzz-csv fuzz-png fuzz-image \
	fuzz-folder fuzz-clean:
	@echo "make fuzz: not a fuzzing build; configure one with: ./configure CC=clang --enable-fuzzing (needs Debian's clang and libclang-rt-14-dev)" >&2; exit 1
endif

.PHONY: fuzz fuzz-yaml fuzz-checkpoint fuzz-idx fuzz-csv fuzz-png \
	fuzz-image fuzz-folder fuzz-clean
