#!/usr/bin/env python3
# torch_zoo.py - trains the three "zoo" models of models/ (mlp.yaml,
# lenet5.yaml, resnet_tiny.yaml) in PyTorch, so that their epoch times can be
# compared with the ones cnnrun reports for the same models.
#
# This is a benchmark for comparison only: libcnn does not depend on PyTorch
# and nothing in the build or the test suite runs this script.
#
# On Debian, PyTorch (python3-torch) is importable only by the system Python:
#
#     /usr/bin/python3 bench/torch_zoo.py [--models mlp,lenet5,resnet_tiny]
#         [--threads 2] [--epochs 2] [--limit N] [--data DIR]
#
# It exits with status 77 (the automake "skip" code) when torch cannot be
# imported.
#
# What matches the YAML files: the layers (padding, stride, bias, dropout),
# the batch size, the optimiser and its hyper-parameters, the loss
# (cross-entropy averaged over the batch; the models' final softmax is folded
# into F.cross_entropy on the logits) and batchnorm (momentum 0.1, eps 1e-5).
# What does not, as it does not change the time per epoch: the weights keep
# PyTorch's default initialisation and the learning rate is constant (no
# step, cosine or warm-up schedule).
#
# An "epoch" is timed as cnnrun reports it: one pass over the (limited)
# training set in shuffled mini-batches (the last one partial), then an
# evaluation on all 10,000 test images.
#
# With --cnnrun PATH it compares side by side: for each model, --rounds
# times in turn, cnnrun (the same YAML, epochs, training images and
# threads) and then PyTorch; it prints the median last epoch of each and
# their ratio. `make bench` runs it so when torch is there. The machine's
# speed drifts, so only figures from one run compare.

import argparse
import gzip
import json
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
    import numpy as np
except ImportError as e:
    print(f"torch_zoo.py: skipped, cannot import torch ({e}); "
          "on Debian run it with /usr/bin/python3", file=sys.stderr)
    sys.exit(77)

TOP = Path(__file__).resolve().parent.parent
DEFAULT_DATA = TOP / "data" / "mnist"
SEED = 1
TEST_BATCH = 1000


def mlp():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 10))


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.Tanh(),
        nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10))


def conv_bn(cin, cout, kernel, stride=1):
    """A bias-free convolution ("same" padding for odd kernels), batchnorm."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2,
                  bias=False),
        nn.BatchNorm2d(cout))


class ResNetTiny(nn.Module):
    """models/resnet_tiny.yaml: a stem, two residual blocks, a dense head."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(1, 16, 3), nn.ReLU(),
                                  nn.MaxPool2d(2))
        self.b1 = nn.Sequential(conv_bn(16, 16, 3), nn.ReLU(),
                                conv_bn(16, 16, 3))
        self.b2 = nn.Sequential(conv_bn(16, 32, 3, stride=2), nn.ReLU(),
                                conv_bn(32, 32, 3))
        self.b2_short = conv_bn(16, 32, 1, stride=2)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        stem = self.stem(x)
        block1 = F.relu(self.b1(stem) + stem)
        block2 = F.relu(self.b2(block1) + self.b2_short(block1))
        return self.head(block2.mean(dim=(2, 3)))


def sgd_nesterov(params):
    return torch.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=True,
                           weight_decay=0.0001)


def adam(params):
    return torch.optim.Adam(params, lr=0.002)


def adamw(params):
    # PyTorch's AdamW defaults to weight_decay 0.01; the YAML says 0.0001.
    return torch.optim.AdamW(params, lr=0.003, weight_decay=0.0001)


# name: (model builder, optimiser builder, batch size, default --limit)
MODELS = {
    "mlp": (mlp, sgd_nesterov, 64, 30000),
    "lenet5": (lenet5, adam, 64, 30000),
    "resnet_tiny": (ResNetTiny, adamw, 128, 12800),
}


def read_idx(path):
    """An IDX file (gzip) as a numpy array of unsigned bytes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data_dir, prefix):
    """Images (N,1,28,28) float32 in [0, 1] and labels (N,) int64."""
    images = read_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def train_epoch(model, opt, x, y, batch_size, gen):
    model.train()
    order = torch.randperm(len(x), generator=gen)
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()


def evaluate(model, x, y):
    """Test accuracy in percent."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), TEST_BATCH):
            logits = model(x[start:start + TEST_BATCH])
            pred = logits.argmax(dim=1)
            correct += (pred == y[start:start + TEST_BATCH]).sum().item()
    return 100.0 * correct / len(x)


def run_model(name, train, test, epochs, limit):
    """Trains one model; prints a line per epoch; returns the last time."""
    build, optimiser, batch_size, default_limit = MODELS[name]
    n = min(limit if limit is not None else default_limit, len(train[0]))
    x, y = train[0][:n], train[1][:n]
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = build()
    opt = optimiser(model.parameters())
    seconds = 0.0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        train_epoch(model, opt, x, y, batch_size, gen)
        accuracy = evaluate(model, *test)
        seconds = time.perf_counter() - t0
        print(f"{name} epoch {epoch}/{epochs}: {seconds:.3f} s "
              f"(train {n} images, test accuracy {accuracy:.2f}%)",
              flush=True)
    return seconds


def run_cnnrun(cnnrun, name, epochs, n, threads):
    """cnnrun's last epoch in seconds for models/NAME.yaml trained on n
    images, from its --metrics file (the seconds in full: the progress
    line rounds them to 0.01 s, 4% of mlp's epoch)."""
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "m.jsonl"
        subprocess.run(
            [str(cnnrun), str(TOP / "models" / f"{name}.yaml"),
             "-j", str(threads), "-o", str(Path(tmp) / "c.gz"),
             "--metrics", str(metrics),
             "--set", f"training.epochs={epochs}",
             "--set", f"data.train.limit={n}"],
            capture_output=True, text=True, check=True)
        times = [json.loads(line)["seconds"]
                 for line in metrics.read_text().splitlines() if line]
    if len(times) != epochs:
        raise RuntimeError(f"cnnrun wrote {len(times)} epochs' metrics "
                           f"for {name}, expected {epochs}")
    return float(times[-1])


def side_by_side(args, train, test):
    """--rounds alternations of cnnrun and PyTorch per model; prints the
    medians and their ratio."""
    for name in args.models:
        n = min(args.limit or MODELS[name][3], len(train[0]))
        ours, theirs = [], []
        for _ in range(args.rounds):
            ours.append(run_cnnrun(args.cnnrun, name, args.epochs, n,
                                   args.threads))
            theirs.append(run_model(name, train, test, args.epochs, n))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"{name}: libcnn {a:.3f} s, PyTorch {b:.3f} s per epoch "
              f"(median of {args.rounds}, {n} training images, "
              f"{args.threads} threads): libcnn faster by {b / a:.2f}x",
              flush=True)


def blas_info():
    """BLAS_INFO from torch's build configuration, and (on Linux) the BLAS
    library this process actually mapped, as "generic" says little."""
    m = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    info = m.group(1) if m else "unknown"
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return info
    libs = sorted({Path(line.split()[-1]).resolve() for line in
                   maps.splitlines() if "blas" in line.split()[-1]})
    if libs:
        info += " (loaded: " + ", ".join(str(p) for p in libs) + ")"
    return info


def parse_args():
    p = argparse.ArgumentParser(
        description="Time the zoo models (models/*.yaml) in PyTorch.")
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma-separated list (default: %(default)s)")
    p.add_argument("--threads", type=int, default=2,
                   help="intra-op threads (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=2,
                   help="epochs per model (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None,
                   help="training images for every model (default: 30000 "
                        "for mlp and lenet5, 12800 for resnet_tiny)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="folder of the MNIST IDX files (default: %(default)s)")
    p.add_argument("--cnnrun", type=Path, default=None,
                   help="also time this cnnrun, side by side")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternations with --cnnrun (default: %(default)s)")
    args = p.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown model(s): {', '.join(unknown)}; "
                f"choose from {', '.join(MODELS)}")
    if min(args.threads, args.epochs, args.rounds,
           args.limit or 1) < 1 or args.limit == 0:
        p.error("--threads, --epochs, --rounds and --limit must be "
                "positive")
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    train = load_split(args.data, "train")
    test = load_split(args.data, "t10k")
    if args.cnnrun:
        side_by_side(args, train, test)
        print(f"PyTorch {torch.__version__}, BLAS {blas_info()}")
        return 0
    last = {name: run_model(name, train, test, args.epochs, args.limit)
            for name in args.models}
    blas = blas_info()
    for name, seconds in last.items():
        print(f"{name}: last epoch {seconds:.3f} s, "
              f"torch {torch.__version__}, "
              f"threads {torch.get_num_threads()}, blas {blas}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
