"""The store's own judge of categories: a linear probe on FID Inception features.

Fitted on the training split's photos, labelled by their category (a categorical catalogue
field, or the one description word of each photo: train/groups.py), it tells which category
a generated image looks like; class consistency is the share of the images generated for a
category that it files under that category. Its accuracy on the held-out photos is the
ceiling beside every consistency: a generator cannot be judged more consistent than real
photos are.

A pretrained feature extractor with a linear layer, not a CNN trained here: one trained from
scratch on clothing-small's 3,068 photos reached about 53% on the validation photos, too weak
to tell a generator that ignores its prompt from a judge that cannot see; this probe reaches
82% (bench/conditioning.py, which it came from). Multinomial logistic regression with an L2
penalty on standardised features, minimised by torch's L-BFGS with strong-Wolfe line search
(torch is already the feature network's dependency).
"""
from __future__ import annotations

import numpy as np


class LinearProbe:
    """Softmax regression on standardised features; `predict` gives class indices."""

    def __init__(self, features: np.ndarray, labels: np.ndarray, classes: int,
                 steps: int = 300, weight_decay: float = 1e-3, seed: int = 0):
        import torch
        labels = np.asarray(labels)
        if len(features) != len(labels) or len(features) == 0:
            raise ValueError(f"a probe needs one label per feature row, got {len(features)} "
                             f"rows and {len(labels)} labels")
        generator = torch.Generator().manual_seed(seed)
        self.mean = features.mean(0)
        self.scale = features.std(0) + 1e-6
        x = torch.from_numpy((features - self.mean) / self.scale).float()
        y = torch.from_numpy(labels).long()
        self.layer = torch.nn.Linear(x.shape[1], classes)
        with torch.no_grad():  # seeded initialisation: the same judge on every call
            bound = 1.0 / np.sqrt(x.shape[1])
            self.layer.weight.uniform_(-bound, bound, generator=generator)
            self.layer.bias.zero_()
        optimiser = torch.optim.LBFGS(self.layer.parameters(), max_iter=steps,
                                      line_search_fn="strong_wolfe")

        def closure():
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.layer(x), y)
            loss = loss + weight_decay * self.layer.weight.pow(2).sum()
            loss.backward()
            return loss
        optimiser.step(closure)

    def predict(self, features: np.ndarray) -> np.ndarray:
        import torch
        if len(features) == 0:
            return np.zeros(0, np.int64)
        x = torch.from_numpy((np.asarray(features) - self.mean) / self.scale).float()
        with torch.no_grad():
            return self.layer(x).argmax(1).numpy()
