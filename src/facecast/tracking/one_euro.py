"""The One Euro filter (Casiez, Roussel and Vogel, CHI 2012), vectorised over numpy arrays.

An adaptive low-pass filter: an exponential smoother whose cutoff frequency rises with the
signal's speed. At rest the cutoff is ``min_cutoff`` (Hz), which removes jitter; when the
signal moves the cutoff becomes ``min_cutoff + beta * |speed|``, which removes lag. The
speed itself is the derivative, low-passed at ``d_cutoff`` Hz. With ``T`` the time since the
previous sample and a cutoff ``fc``, the smoothing factor is::

    tau = 1 / (2 pi fc)         alpha = 1 / (1 + tau / T)
    x_hat_i = alpha x_i + (1 - alpha) x_hat_{i-1}

One filter holds any array shape (478 x 3 landmarks, a 3-vector of head angles). The speed
that drives the cutoff is taken per element, or, with ``group_last_axis``, as the length of
the derivative over the last axis, so that each landmark (x, y, z) gets one cutoff and a
point moving diagonally is treated like one moving along an axis.

Timestamps are seconds on any monotonic clock (a video's frame times, a camera's capture
times); a sample whose timestamp does not advance is returned as the previous output.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["OneEuroFilter", "smoothing_factor"]


def smoothing_factor(cutoff_hz: np.ndarray | float, dt: float) -> np.ndarray | float:
    """``alpha = 1 / (1 + tau / dt)`` with ``tau = 1 / (2 pi cutoff)`` (paper eq. 2-3)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One Euro filter over arrays of one fixed shape (see the module docstring)."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float = 1.0, group_last_axis: bool = True) -> None:
        if not (min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
            raise ValueError(f"One Euro filter needs min_cutoff > 0, d_cutoff > 0 and beta >= 0; "
                             f"got min_cutoff={min_cutoff}, beta={beta}, d_cutoff={d_cutoff}")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.group_last_axis = group_last_axis
        self._x: np.ndarray | None = None  # previous filtered value, float64
        self._dx: np.ndarray | None = None  # previous filtered derivative
        self._t: float | None = None

    @property
    def value(self) -> np.ndarray | None:
        """The last filtered value (float64), or None before the first sample."""
        return None if self._x is None else self._x.copy()

    def reset(self, value: np.ndarray | None = None, t: float | None = None) -> None:
        """Forget the history; with ``value`` and ``t``, start again from that value at rest."""
        if value is None:
            self._x, self._dx, self._t = None, None, None
            return
        self._x = np.array(value, dtype=np.float64)
        self._dx = np.zeros_like(self._x)
        self._t = t

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter sample ``x`` taken at time ``t`` (seconds); returns float64 of x's shape."""
        value = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None:
            self._x, self._dx, self._t = value.copy(), np.zeros_like(value), float(t)
            return self._x.copy()
        if value.shape != self._x.shape:
            raise ValueError(f"sample shape {value.shape} differs from the filter's {self._x.shape}")
        dt = float(t) - self._t
        if not dt > 0.0:
            return self._x.copy()
        dx = (value - self._x) / dt  # speed, units per second
        a_d = smoothing_factor(self.d_cutoff, dt)
        dx_hat = a_d * dx + (1.0 - a_d) * self._dx
        speed = np.abs(dx_hat)
        if self.group_last_axis and dx_hat.ndim >= 1:
            speed = np.linalg.norm(dx_hat, axis=-1, keepdims=True)
        alpha = smoothing_factor(self.min_cutoff + self.beta * speed, dt)
        x_hat = alpha * value + (1.0 - alpha) * self._x
        self._x, self._dx, self._t = x_hat, dx_hat, float(t)
        return x_hat.copy()
