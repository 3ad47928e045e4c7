"""Eye gaze (XR_EXT_eye_gaze_interaction) and face tracking (XR_FB_face_tracking2) for an OpenXR session.

Each source is created only when the runtime offers its extension and the system reports support;
otherwise it stays off and says why in one line (`note`), so the app keeps running without it.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np

from codecav.latent import Gaze
from codecav.xr.openxr.face_tracking import fb_to_arkit

EYE_GAZE_EXTENSION = "XR_EXT_eye_gaze_interaction"
"""Instance extension for the eye gaze pose action."""
FACE_TRACKING_EXTENSION = "XR_FB_face_tracking2"
"""Instance extension for the 70 FB face expression weights."""
_EYE_GAZE_PROFILE = "/interaction_profiles/ext/eye_gaze_interaction"
_EYE_GAZE_PATH = "/user/eyes_ext/input/gaze_ext/pose"


@dataclass(frozen=True)
class FaceSample:
    """One face tracking reading."""

    arkit: np.ndarray
    """float32 [52] ARKit blendshape weights (codecav.arkit.ARKIT_52 order)."""
    fb_weights: np.ndarray
    """float32 [70] the raw XR_FB_face_tracking2 weights."""
    confidence_lower: float
    """Runtime's confidence in the lower-face weights, 0..1."""
    confidence_upper: float
    """Runtime's confidence in the upper-face weights, 0..1."""
    time_ns: int
    """XrTime the weights are for."""


def gaze_direction(orientation_xyzw: np.ndarray) -> np.ndarray:
    """float32 [3] unit gaze ray of an eye gaze pose: the pose's -Z axis (OpenXR looks down -Z)."""
    x, y, z, w = (float(v) for v in orientation_xyzw)
    direction = np.array([-(2 * (x * z + y * w)), -(2 * (y * z - x * w)), -(1 - 2 * (x * x + y * y))], np.float32)
    return direction / np.float32(np.linalg.norm(direction))


def _system_property(instance: Any, system_id: Any, props: Any) -> Any:
    """Fill an XrSystem*Properties struct by chaining it into xrGetSystemProperties."""
    import xr

    base = xr.SystemProperties(next=ctypes.cast(ctypes.pointer(props), ctypes.c_void_p))
    result = xr.check_result(xr.raw_functions.xrGetSystemProperties(instance, system_id, ctypes.byref(base)))
    if result.is_exception():
        raise result
    return props


def face_tracker_create_info() -> tuple[Any, Any]:
    """XrFaceTrackerCreateInfo2FB asking for the default 70-expression set from the visual source, and the
    ctypes array it points at (keep both alive until xrCreateFaceTracker2FB returns)."""
    import xr

    sources = (ctypes.c_int32 * 1)(int(xr.FaceTrackingDataSource2FB.VISUAL))
    info = xr.FaceTrackerCreateInfo2FB()
    info._face_expression_set = int(xr.FaceExpressionSet2FB.DEFAULT)
    info.requested_data_source_count = 1
    info._requested_data_sources = ctypes.cast(sources, type(info._requested_data_sources))
    return info, sources


class EyeGazeSource:
    """The eye gaze pose action, located in VIEW space: a gaze direction in head space per frame."""

    def __init__(self, instance: Any, system_id: Any, session: Any, enabled_extensions: set[str]) -> None:
        """Set up the action when supported; otherwise `active` is False and `note` says why."""
        import xr

        self.active = False
        """True when gaze readings can be taken."""
        self.note = ""
        """One line: why gaze is off, or empty."""
        self.action_set: Any = None
        """The xr.ActionSet to attach (None when off)."""
        self._space: Any = None
        if EYE_GAZE_EXTENSION not in enabled_extensions:
            self.note = (f"eye gaze off: the OpenXR runtime does not offer {EYE_GAZE_EXTENSION}; "
                         "gaze stays None (NO_GAZE)")
            return
        props = _system_property(instance, system_id, xr.SystemEyeGazeInteractionPropertiesEXT())
        if not props.supports_eye_gaze_interaction:
            self.note = (f"eye gaze off: {EYE_GAZE_EXTENSION} is offered but this headset has no eye tracker "
                         "(supportsEyeGazeInteraction = false); gaze stays None (NO_GAZE)")
            return
        self.action_set = xr.create_action_set(instance, xr.ActionSetCreateInfo(
            action_set_name="codecav_gaze", localized_action_set_name="codecav gaze", priority=0))
        self._action = xr.create_action(self.action_set, xr.ActionCreateInfo(
            action_type=xr.ActionType.POSE_INPUT, action_name="eye_gaze", localized_action_name="Eye gaze"))
        xr.suggest_interaction_profile_bindings(instance, xr.InteractionProfileSuggestedBinding(
            interaction_profile=xr.string_to_path(instance, _EYE_GAZE_PROFILE),
            suggested_bindings=[xr.ActionSuggestedBinding(self._action, xr.string_to_path(instance, _EYE_GAZE_PATH))],
        ))
        self._space = xr.create_action_space(session, xr.ActionSpaceCreateInfo(action=self._action))
        self.active = True

    def sample(self, session: Any, view_space: Any, xr_time: int) -> Gaze | None:
        """Gaze at `xr_time` in head space (both eyes share the combined gaze ray), or None if untracked."""
        if not self.active:
            return None
        import xr

        xr.sync_actions(session, xr.ActionsSyncInfo(active_action_sets=[xr.ActiveActionSet(self.action_set)]))
        location = xr.locate_space(self._space, view_space, xr_time)
        if not location.location_flags & xr.SPACE_LOCATION_ORIENTATION_TRACKED_BIT:
            return None
        q = location.pose.orientation
        direction = gaze_direction(np.array([q.x, q.y, q.z, q.w], np.float32))
        return Gaze(direction, direction.copy())

    def close(self) -> None:
        """Destroy the action space and set; safe to call twice."""
        import xr

        if self._space is not None:
            xr.destroy_space(self._space)
            self._space = None
        if self.action_set is not None:
            xr.destroy_action_set(self.action_set)
            self.action_set = None
        self.active = False


class FaceTrackingSource:
    """XR_FB_face_tracking2 weights read with caller-owned ctypes buffers (pyopenxr gives none)."""

    def __init__(self, instance: Any, system_id: Any, session: Any, enabled_extensions: set[str]) -> None:
        """Create the face tracker when supported; otherwise `active` is False and `note` says why."""
        import xr

        self.active = False
        """True when face readings can be taken."""
        self.note = ""
        """One line: why face tracking is off, or empty."""
        self._tracker: Any = None
        self._sources: Any = None
        if FACE_TRACKING_EXTENSION not in enabled_extensions:
            self.note = (f"face tracking off: the OpenXR runtime does not offer {FACE_TRACKING_EXTENSION} "
                         "(Debian's Monado lacks it); drive expressions from another source")
            return
        props = _system_property(instance, system_id, xr.SystemFaceTrackingProperties2FB())
        if not props.supports_visual_face_tracking:
            self.note = (f"face tracking off: {FACE_TRACKING_EXTENSION} is offered but this headset has no "
                         "visual face tracking; drive expressions from another source")
            return
        info, self._sources = face_tracker_create_info()
        self._tracker = xr.create_face_tracker2_fb(session, info)
        get = ctypes.cast(xr.get_instance_proc_addr(instance, "xrGetFaceExpressionWeights2FB"),
                          xr.PFN_xrGetFaceExpressionWeights2FB)
        self._start(self._tracker, get)

    def _start(self, tracker: Any, get_weights: Any) -> None:
        """Use `tracker` with the xrGetFaceExpressionWeights2FB function pointer `get_weights`."""
        self._tracker = tracker
        self._get = get_weights
        self._weights = (ctypes.c_float * 70)()
        self._confidences = (ctypes.c_float * 2)()
        self.active = True

    def sample(self, xr_time: int) -> FaceSample | None:
        """Weights at `xr_time` mapped to ARKit-52, or None when the runtime marks them invalid."""
        if not self.active:
            return None
        import xr

        out = xr.FaceExpressionWeights2FB()
        out.weight_count = 70
        out._weights = ctypes.cast(self._weights, type(out._weights))
        out.confidence_count = 2
        out._confidences = ctypes.cast(self._confidences, type(out._confidences))
        info = xr.FaceExpressionInfo2FB(time=xr_time)
        result = xr.check_result(xr.Result(self._get(self._tracker, ctypes.byref(info), ctypes.byref(out))))
        if result.is_exception():
            raise result
        if not out.is_valid:
            return None
        weights = np.ctypeslib.as_array(self._weights).astype(np.float32)
        return FaceSample(fb_to_arkit(weights), weights, float(self._confidences[0]), float(self._confidences[1]),
                          int(out.time))

    def close(self) -> None:
        """Destroy the face tracker; safe to call twice."""
        if self._tracker is not None:
            import xr

            xr.destroy_face_tracker2_fb(self._tracker)
            self._tracker = None
        self.active = False
