"""Interfaces of the decoder layer: what a neural decoder produces, the abstract decoder, and the
abstract renderer (PiCA per-pixel or full-texture) that draws decoded frames."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from codecav.assets.package import FeatureMapInfo, MeshTopology, PixelMlp

if TYPE_CHECKING:  # GL types only for annotations: importing the interface needs no GL
    from codecav.camera import View
    from codecav.xr.base import EyeView

DECODER_INPUTS = ("latent", "view_dir")
"""ONNX input names: latent float32 [1, D]; view_dir float32 [1, 3] (unit, head space, towards camera)."""

DECODER_OUTPUTS = ("geometry", "features")
"""ONNX output names: geometry float32 [1, V, 3] (head space, metres); features float32 [1, C, H, W]."""


@dataclass(frozen=True)
class DecodedFrame:
    """One frame of an avatar decoded by the neural part, ready for the per-pixel GL pass."""

    geometry: np.ndarray
    """float32 [V, 3] vertex positions in head space (metres)."""
    features: np.ndarray
    """float32 [H, W, C] UV feature map, row 0 at v = 0 (OpenGL texture order), C-contiguous."""


def camera_in_head(model: np.ndarray, view: View) -> np.ndarray:
    """float64 [3] the eye position of `view` in the head space of `model` (head -> world): the end of every
    view direction a renderer feeds the pixel MLP."""
    eye = np.append(view.eye_position.astype(np.float64), 1.0)
    result: np.ndarray = (np.linalg.inv(np.asarray(model, np.float64)) @ eye)[:3]
    return result


class NeuralDecoder(ABC):
    """Turns a latent code and a view direction into a DecodedFrame."""

    @abstractmethod
    def decode(self, latent: np.ndarray, view_dir: np.ndarray) -> DecodedFrame:
        """Decode one frame; `latent` is float32 [D], `view_dir` float32 [3] unit in head space."""


class AvatarHandle:
    """An avatar's GPU resources inside one AvatarRenderer; returned by add_avatar, opaque to callers."""

    released: bool = False
    """True once the renderer has freed it; using it again raises ValueError."""


@dataclass(frozen=True)
class AvatarDraw:
    """One avatar to draw this frame: which handle and where its head is."""

    handle: AvatarHandle
    """From AvatarRenderer.add_avatar of the renderer that draws it."""
    model: np.ndarray
    """float32 [4, 4] head space -> world (column-vector convention)."""
    placeholder: bool = False
    """Draw it as a placeholder: grey, from the colour it would have (its decoder was dropped and this is its
    last good frame, standing in for the person; gl_common.draw_style_rgb)."""


class AvatarRenderer(ABC):
    """Draws decoded avatars into an eye's framebuffer (PiCA per-pixel, or the DAM full-texture baseline).

    The concrete classes take `(ctx: moderngl.Context, options=None)`; see codecav.decoders.get_renderer.
    """

    @abstractmethod
    def add_avatar(self, mesh: MeshTopology, mlp: PixelMlp, feature_info: FeatureMapInfo) -> AvatarHandle:
        """Upload an avatar's static parts (topology, UVs, MLP weights) and allocate its per-frame buffers."""

    @abstractmethod
    def update(self, handle: AvatarHandle, frame: DecodedFrame) -> None:
        """Write one decoded frame (geometry, feature map) into the avatar's buffers."""

    @abstractmethod
    def render(
        self, eye_view: EyeView, draws: Sequence[AvatarDraw], *, background: tuple[float, float, float] | None = None
    ) -> None:
        """Clear the eye's framebuffer (to `background`, default the renderer's) and draw `draws` into it."""

    @abstractmethod
    def release_avatar(self, handle: AvatarHandle) -> None:
        """Free one avatar's GPU resources; safe to call twice."""

    @abstractmethod
    def release(self) -> None:
        """Free every GPU resource of the renderer (all avatars, programs); safe to call twice."""
