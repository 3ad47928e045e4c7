"""Pure mapping from XR_FB_face_tracking2 weights (70 FB expressions) to the ARKit-52 blendshapes.

The FB names and their order are XrFaceExpression2FB from the OpenXR 1.1 registry (pyopenxr 1.1.6501
`xr.FaceExpression2FB` lists the same 70 values); the correspondence follows Meta's FACS-based names:
an ARKit shape is the mean of the FB expressions it is built from. Suffixes _L/_R and Left/Right both
name the user's own left and right side. No GL or OpenXR import: runs and is tested on any CPU.
"""

from __future__ import annotations

import numpy as np

from codecav.arkit import ARKIT_52, ARKIT_INDEX

FB_FACE_EXPRESSIONS_2: tuple[str, ...] = (
    "BROW_LOWERER_L", "BROW_LOWERER_R", "CHEEK_PUFF_L", "CHEEK_PUFF_R", "CHEEK_RAISER_L", "CHEEK_RAISER_R",
    "CHEEK_SUCK_L", "CHEEK_SUCK_R", "CHIN_RAISER_B", "CHIN_RAISER_T", "DIMPLER_L", "DIMPLER_R",
    "EYES_CLOSED_L", "EYES_CLOSED_R", "EYES_LOOK_DOWN_L", "EYES_LOOK_DOWN_R", "EYES_LOOK_LEFT_L",
    "EYES_LOOK_LEFT_R", "EYES_LOOK_RIGHT_L", "EYES_LOOK_RIGHT_R", "EYES_LOOK_UP_L", "EYES_LOOK_UP_R",
    "INNER_BROW_RAISER_L", "INNER_BROW_RAISER_R", "JAW_DROP", "JAW_SIDEWAYS_LEFT", "JAW_SIDEWAYS_RIGHT",
    "JAW_THRUST", "LID_TIGHTENER_L", "LID_TIGHTENER_R", "LIP_CORNER_DEPRESSOR_L", "LIP_CORNER_DEPRESSOR_R",
    "LIP_CORNER_PULLER_L", "LIP_CORNER_PULLER_R", "LIP_FUNNELER_LB", "LIP_FUNNELER_LT", "LIP_FUNNELER_RB",
    "LIP_FUNNELER_RT", "LIP_PRESSOR_L", "LIP_PRESSOR_R", "LIP_PUCKER_L", "LIP_PUCKER_R", "LIP_STRETCHER_L",
    "LIP_STRETCHER_R", "LIP_SUCK_LB", "LIP_SUCK_LT", "LIP_SUCK_RB", "LIP_SUCK_RT", "LIP_TIGHTENER_L",
    "LIP_TIGHTENER_R", "LIPS_TOWARD", "LOWER_LIP_DEPRESSOR_L", "LOWER_LIP_DEPRESSOR_R", "MOUTH_LEFT",
    "MOUTH_RIGHT", "NOSE_WRINKLER_L", "NOSE_WRINKLER_R", "OUTER_BROW_RAISER_L", "OUTER_BROW_RAISER_R",
    "UPPER_LID_RAISER_L", "UPPER_LID_RAISER_R", "UPPER_LIP_RAISER_L", "UPPER_LIP_RAISER_R",
    "TONGUE_TIP_INTERDENTAL", "TONGUE_TIP_ALVEOLAR", "TONGUE_FRONT_DORSAL_PALATE", "TONGUE_MID_DORSAL_PALATE",
    "TONGUE_BACK_DORSAL_VELAR", "TONGUE_OUT", "TONGUE_RETREAT",
)
"""The 70 XrFaceExpression2FB names in index order (XR_FACE_EXPRESSION2_<NAME>_FB)."""

FB_INDEX: dict[str, int] = {name: i for i, name in enumerate(FB_FACE_EXPRESSIONS_2)}
"""FB name -> index into the 70 weights."""

FB_CONFIDENCE_LOWER_FACE = 0
"""Index of the lower-face confidence (XR_FACE_CONFIDENCE2_LOWER_FACE_FB)."""
FB_CONFIDENCE_UPPER_FACE = 1
"""Index of the upper-face confidence (XR_FACE_CONFIDENCE2_UPPER_FACE_FB)."""

# An ARKit eye "looks in" towards the nose: the left eye looking right, the right eye looking left.
ARKIT_FROM_FB: dict[str, tuple[str, ...]] = {
    "browDownLeft": ("BROW_LOWERER_L",),
    "browDownRight": ("BROW_LOWERER_R",),
    "browInnerUp": ("INNER_BROW_RAISER_L", "INNER_BROW_RAISER_R"),
    "browOuterUpLeft": ("OUTER_BROW_RAISER_L",),
    "browOuterUpRight": ("OUTER_BROW_RAISER_R",),
    "cheekPuff": ("CHEEK_PUFF_L", "CHEEK_PUFF_R"),
    "cheekSquintLeft": ("CHEEK_RAISER_L",),
    "cheekSquintRight": ("CHEEK_RAISER_R",),
    "eyeBlinkLeft": ("EYES_CLOSED_L",),
    "eyeBlinkRight": ("EYES_CLOSED_R",),
    "eyeLookDownLeft": ("EYES_LOOK_DOWN_L",),
    "eyeLookDownRight": ("EYES_LOOK_DOWN_R",),
    "eyeLookInLeft": ("EYES_LOOK_RIGHT_L",),
    "eyeLookInRight": ("EYES_LOOK_LEFT_R",),
    "eyeLookOutLeft": ("EYES_LOOK_LEFT_L",),
    "eyeLookOutRight": ("EYES_LOOK_RIGHT_R",),
    "eyeLookUpLeft": ("EYES_LOOK_UP_L",),
    "eyeLookUpRight": ("EYES_LOOK_UP_R",),
    "eyeSquintLeft": ("LID_TIGHTENER_L",),
    "eyeSquintRight": ("LID_TIGHTENER_R",),
    "eyeWideLeft": ("UPPER_LID_RAISER_L",),
    "eyeWideRight": ("UPPER_LID_RAISER_R",),
    "jawForward": ("JAW_THRUST",),
    "jawLeft": ("JAW_SIDEWAYS_LEFT",),
    "jawOpen": ("JAW_DROP",),
    "jawRight": ("JAW_SIDEWAYS_RIGHT",),
    "mouthClose": ("LIPS_TOWARD",),
    "mouthDimpleLeft": ("DIMPLER_L",),
    "mouthDimpleRight": ("DIMPLER_R",),
    "mouthFrownLeft": ("LIP_CORNER_DEPRESSOR_L",),
    "mouthFrownRight": ("LIP_CORNER_DEPRESSOR_R",),
    "mouthFunnel": ("LIP_FUNNELER_LB", "LIP_FUNNELER_LT", "LIP_FUNNELER_RB", "LIP_FUNNELER_RT"),
    "mouthLeft": ("MOUTH_LEFT",),
    "mouthLowerDownLeft": ("LOWER_LIP_DEPRESSOR_L",),
    "mouthLowerDownRight": ("LOWER_LIP_DEPRESSOR_R",),
    "mouthPressLeft": ("LIP_PRESSOR_L",),
    "mouthPressRight": ("LIP_PRESSOR_R",),
    "mouthPucker": ("LIP_PUCKER_L", "LIP_PUCKER_R"),
    "mouthRight": ("MOUTH_RIGHT",),
    "mouthRollLower": ("LIP_SUCK_LB", "LIP_SUCK_RB"),
    "mouthRollUpper": ("LIP_SUCK_LT", "LIP_SUCK_RT"),
    "mouthShrugLower": ("CHIN_RAISER_B",),
    "mouthShrugUpper": ("CHIN_RAISER_T",),
    "mouthSmileLeft": ("LIP_CORNER_PULLER_L",),
    "mouthSmileRight": ("LIP_CORNER_PULLER_R",),
    "mouthStretchLeft": ("LIP_STRETCHER_L",),
    "mouthStretchRight": ("LIP_STRETCHER_R",),
    "mouthUpperUpLeft": ("UPPER_LIP_RAISER_L",),
    "mouthUpperUpRight": ("UPPER_LIP_RAISER_R",),
    "noseSneerLeft": ("NOSE_WRINKLER_L",),
    "noseSneerRight": ("NOSE_WRINKLER_R",),
    "tongueOut": ("TONGUE_OUT",),
}
"""Each ARKit-52 shape -> the FB expressions averaged to make it."""


def _mapping_matrix() -> np.ndarray:
    matrix = np.zeros((len(ARKIT_52), len(FB_FACE_EXPRESSIONS_2)), dtype=np.float32)
    for arkit_name, fb_names in ARKIT_FROM_FB.items():
        for fb_name in fb_names:
            matrix[ARKIT_INDEX[arkit_name], FB_INDEX[fb_name]] = 1.0 / len(fb_names)
    return matrix


FB_TO_ARKIT_MATRIX: np.ndarray = _mapping_matrix()
"""float32 [52, 70]: arkit = FB_TO_ARKIT_MATRIX @ fb (rows sum to 1)."""
FB_TO_ARKIT_MATRIX.setflags(write=False)


def fb_to_arkit(weights70: np.ndarray) -> np.ndarray:
    """float32 [52] ARKit blendshape weights in [0, 1] from the 70 XR_FB_face_tracking2 weights."""
    weights = np.asarray(weights70, dtype=np.float32)
    if weights.shape != (len(FB_FACE_EXPRESSIONS_2),):
        raise ValueError(f"fb_to_arkit needs 70 XR_FB_face_tracking2 weights, got shape {weights.shape}")
    if not np.all(np.isfinite(weights)):
        raise ValueError("fb_to_arkit got non-finite weights; drop the frame (the runtime marks it invalid)")
    return np.clip(FB_TO_ARKIT_MATRIX @ weights, 0.0, 1.0).astype(np.float32)
