"""GL contexts and the OpenXR graphics bindings for them: EGL (XR_MNDX_egl_enable) and GLX (XR_KHR_opengl_enable).

Each context is created here, made current, and handed to moderngl in "detect" mode, so moderngl and the
OpenXR runtime share one GL context. EGL and GLX must not both be current in one process (Mesa answers
X_GLXMakeCurrent with BadAccess); pick one per process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from abc import ABC, abstractmethod
from typing import Any

import moderngl

from codecav.shaders.loader import build_program
from codecav.xr.errors import RenderTargetError

EGL_NONE = 0x3038
_EGL_PLATFORM_SURFACELESS_MESA = 0x31DD
_EGL_OPENGL_API = 0x30A2
_EGL_CONFIG_ATTRIBS = (
    0x3024, 8,  # EGL_RED_SIZE
    0x3023, 8,  # EGL_GREEN_SIZE
    0x3022, 8,  # EGL_BLUE_SIZE
    0x3021, 8,  # EGL_ALPHA_SIZE
    0x3025, 24,  # EGL_DEPTH_SIZE
    0x3040, 0x0008,  # EGL_RENDERABLE_TYPE = EGL_OPENGL_BIT
    0x3033, 0x0001,  # EGL_SURFACE_TYPE = EGL_PBUFFER_BIT
    EGL_NONE,
)
_EGL_CONTEXT_ATTRIBS = (
    0x3098, 3,  # EGL_CONTEXT_MAJOR_VERSION
    0x30FB, 3,  # EGL_CONTEXT_MINOR_VERSION
    0x30FD, 0x1,  # EGL_CONTEXT_OPENGL_PROFILE_MASK = core
    EGL_NONE,
)

GL_FRAMEBUFFER = 0x8D40
GL_DEPTH_ATTACHMENT = 0x8D00
GL_TEXTURE_2D = 0x0DE1


class _ProcLoader:
    """moderngl's loader protocol over a get-proc-address function (attaches to the current context)."""

    def __init__(self, binding: GLBinding) -> None:
        self._binding = binding

    def load_opengl_function(self, name: str) -> int:
        return self._binding.get_proc_address(name)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *args: object) -> None:
        pass

    def release(self) -> None:
        pass


def attach_moderngl(binding: GLBinding) -> moderngl.Context:
    """A moderngl Context over the binding's current context, loading GL functions through it."""
    try:
        moderngl.init_context(_ProcLoader(binding))
        ctx = moderngl.get_context()
    except Exception as exc:  # moderngl raises plain Exceptions
        raise RenderTargetError(f"moderngl could not attach to the {binding.extension} context ({exc})") from exc
    if ctx.version_code < 330:
        raise RenderTargetError(f"OpenGL {ctx.version_code} is too old; codecav needs 3.3 (Mesa 20+ or a GPU driver)")
    return ctx


def _set_pointer(struct: ctypes.Structure, field: str, address: int) -> None:
    """Store a raw address in a pointer field whatever opaque pointer type pyopenxr declared for it."""
    field_type: Any = dict(struct._fields_)[field]  # type: ignore[arg-type]
    setattr(struct, field, ctypes.cast(ctypes.c_void_p(address), field_type))


def _int_array(values: tuple[int, ...]) -> ctypes.Array[ctypes.c_int32]:
    return (ctypes.c_int32 * len(values))(*values)


class GLBinding(ABC):
    """A current GL context plus the XrGraphicsBinding* struct that names it to the runtime."""

    extension: str
    """The OpenXR instance extension this binding needs."""
    ctx: moderngl.Context
    """moderngl attached to the context."""

    @abstractmethod
    def binding_struct(self) -> Any:
        """The xr.GraphicsBinding* struct to chain into XrSessionCreateInfo.next."""

    @abstractmethod
    def make_current(self) -> None:
        """Make the context current on the calling thread."""

    @abstractmethod
    def get_proc_address(self, name: str) -> int:
        """Address of a GL function for this context (0 if unknown)."""

    @abstractmethod
    def close(self) -> None:
        """Release the context (after the session is destroyed); safe to call twice."""

    def attach_depth_texture(self, framebuffer: moderngl.Framebuffer, texture_glo: int) -> None:
        """Point the framebuffer's depth attachment at a swapchain depth texture.

        moderngl refuses an external texture as a depth attachment, so framebuffers are built with a
        placeholder depth texture and re-pointed here with glFramebufferTexture2D.
        """
        bind = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32)(self._require("glBindFramebuffer"))
        attach = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32,
                                  ctypes.c_int32)(self._require("glFramebufferTexture2D"))
        bind(GL_FRAMEBUFFER, framebuffer.glo)
        attach(GL_FRAMEBUFFER, GL_DEPTH_ATTACHMENT, GL_TEXTURE_2D, texture_glo, 0)
        bind(GL_FRAMEBUFFER, 0)
        # moderngl caches the bound framebuffer (ctx.fbo, possibly one released since, e.g. by a warm-up draw);
        # bind the default one through moderngl so its idea and GL's agree again.
        self.ctx.screen.use()

    def _require(self, name: str) -> int:
        address = self.get_proc_address(name)
        if not address:
            raise RenderTargetError(f"the GL driver has no {name}; use Mesa 22+ or a GL 3.3 driver")
        return address


class EGLBinding(GLBinding):
    """An EGL pbuffer context (no display needed) for XR_MNDX_egl_enable."""

    extension = "XR_MNDX_egl_enable"

    def __init__(self) -> None:
        """Create and make current an EGL OpenGL 3.3 core context; RenderTargetError if EGL is missing."""
        name = ctypes.util.find_library("EGL") or "libEGL.so.1"
        try:
            self._egl = ctypes.CDLL(name)
        except OSError as exc:
            raise RenderTargetError(f"cannot load libEGL ({exc}); apt-get install libegl1 libegl-mesa0") from exc
        egl = self._egl
        egl.eglGetProcAddress.restype = ctypes.c_void_p
        egl.eglGetProcAddress.argtypes = [ctypes.c_char_p]
        egl.eglGetPlatformDisplay.restype = ctypes.c_void_p
        egl.eglGetPlatformDisplay.argtypes = [ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p]
        egl.eglGetDisplay.restype = ctypes.c_void_p
        egl.eglGetDisplay.argtypes = [ctypes.c_void_p]
        egl.eglInitialize.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        egl.eglChooseConfig.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32,
                                        ctypes.POINTER(ctypes.c_int32)]
        egl.eglCreatePbufferSurface.restype = ctypes.c_void_p
        egl.eglCreatePbufferSurface.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        egl.eglCreateContext.restype = ctypes.c_void_p
        egl.eglCreateContext.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        egl.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
        egl.eglDestroyContext.argtypes = [ctypes.c_void_p] * 2
        egl.eglDestroySurface.argtypes = [ctypes.c_void_p] * 2
        egl.eglTerminate.argtypes = [ctypes.c_void_p]
        egl.eglGetError.restype = ctypes.c_int32

        # Surfaceless first: it needs no X server; the default display is the fallback for other drivers.
        display = egl.eglGetPlatformDisplay(_EGL_PLATFORM_SURFACELESS_MESA, None, None)
        if not display or not egl.eglInitialize(display, None, None):
            display = egl.eglGetDisplay(None)
            if not display or not egl.eglInitialize(display, None, None):
                raise RenderTargetError(f"EGL could not initialise a display (0x{egl.eglGetError():x}); "
                                        "apt-get install libegl-mesa0 libgl1-mesa-dri")
        self.display: int = display
        """EGLDisplay."""
        config = ctypes.c_void_p()
        count = ctypes.c_int32()
        if not egl.eglChooseConfig(display, _int_array(_EGL_CONFIG_ATTRIBS), ctypes.byref(config), 1,
                                   ctypes.byref(count)) or count.value < 1:
            raise RenderTargetError("EGL has no RGBA8 + depth pbuffer config for desktop OpenGL; "
                                    "apt-get install libgl1-mesa-dri")
        self.config: int = config.value or 0
        """EGLConfig."""
        self.surface: int = egl.eglCreatePbufferSurface(display, config, _int_array((0x3057, 1, 0x3056, 1, EGL_NONE)))
        """A 1x1 pbuffer: the context needs a drawable; all rendering goes to swapchain framebuffers."""
        egl.eglBindAPI(_EGL_OPENGL_API)
        self.context: int = egl.eglCreateContext(display, config, None, _int_array(_EGL_CONTEXT_ATTRIBS))
        """EGLContext."""
        if not self.context:
            raise RenderTargetError(f"EGL could not create an OpenGL 3.3 core context (0x{egl.eglGetError():x}); "
                                    "check Mesa (apt-get install libgl1-mesa-dri)")
        self._closed = False
        self.make_current()
        try:
            self.ctx = attach_moderngl(self)
        except RenderTargetError:
            self.close()
            raise

    def binding_struct(self) -> Any:
        """xr.GraphicsBindingEGLMNDX naming this display, config and context."""
        import xr

        binding = xr.GraphicsBindingEGLMNDX()
        binding.get_proc_address = ctypes.cast(self._egl.eglGetProcAddress, xr.PFN_xrEglGetProcAddressMNDX)
        _set_pointer(binding, "display", self.display)
        _set_pointer(binding, "config", self.config)
        _set_pointer(binding, "context", self.context)
        return binding

    def make_current(self) -> None:
        """eglMakeCurrent with the pbuffer."""
        if not self._egl.eglMakeCurrent(self.display, self.surface, self.surface, self.context):
            raise RenderTargetError(f"eglMakeCurrent failed (0x{self._egl.eglGetError():x})")

    def get_proc_address(self, name: str) -> int:
        """eglGetProcAddress."""
        return int(self._egl.eglGetProcAddress(name.encode()) or 0)

    def close(self) -> None:
        """Release moderngl's objects, then the EGL context, surface and display."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        egl = self._egl
        egl.eglMakeCurrent(self.display, None, None, None)
        if self.context:
            egl.eglDestroyContext(self.display, self.context)
        if self.surface:
            egl.eglDestroySurface(self.display, self.surface)
        egl.eglTerminate(self.display)


class GLXBinding(GLBinding):
    """A hidden GLFW window's GLX context (X11 or Xvfb) for XR_KHR_opengl_enable."""

    extension = "XR_KHR_opengl_enable"

    def __init__(self) -> None:
        """Open a hidden 64x64 GLFW window with a GL 3.3 core context; RenderTargetError without a display."""
        if not os.environ.get("DISPLAY"):
            raise RenderTargetError("the GLX binding needs an X display (DISPLAY is unset); run under Xvfb "
                                    "or use the EGL binding")
        import glfw

        if not glfw.init():
            raise RenderTargetError("GLFW could not initialise; check the X server and libgl1, or use EGL")
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.VISIBLE, glfw.FALSE)
        glfw.window_hint(glfw.DOUBLEBUFFER, glfw.FALSE)
        self._glfw = glfw
        self._window: Any = glfw.create_window(64, 64, "codecav-openxr", None, None)
        if not self._window:
            glfw.terminate()
            raise RenderTargetError("GLFW could not create a GL 3.3 context; check the GL driver or use EGL")
        glfw.make_context_current(self._window)
        glfw.swap_interval(0)
        libgl = ctypes.CDLL(ctypes.util.find_library("GL") or "libGL.so.1")
        for fn in ("glXGetCurrentDisplay", "glXGetCurrentDrawable", "glXGetCurrentContext", "glXGetProcAddressARB"):
            getattr(libgl, fn).restype = ctypes.c_void_p
        libgl.glXGetProcAddressARB.argtypes = [ctypes.c_char_p]
        self._libgl = libgl
        self.x_display: int = libgl.glXGetCurrentDisplay()
        """Display* of the window."""
        self.drawable: int = libgl.glXGetCurrentDrawable() or 0
        """GLXDrawable of the hidden window."""
        self.context: int = libgl.glXGetCurrentContext()
        """GLXContext."""
        try:
            self.ctx = attach_moderngl(self)
        except RenderTargetError:
            self.close()
            raise

    def binding_struct(self) -> Any:
        """xr.GraphicsBindingOpenGLXlibKHR naming this display, drawable and context."""
        import xr

        binding = xr.GraphicsBindingOpenGLXlibKHR()
        _set_pointer(binding, "x_display", self.x_display)
        binding.glx_drawable = self.drawable
        _set_pointer(binding, "glx_context", self.context)
        return binding

    def make_current(self) -> None:
        """glfwMakeContextCurrent."""
        self._glfw.make_context_current(self._window)

    def get_proc_address(self, name: str) -> int:
        """glXGetProcAddressARB, else the symbol exported by libGL."""
        address = self._libgl.glXGetProcAddressARB(name.encode())
        if not address:
            address = ctypes.cast(getattr(self._libgl, name, 0), ctypes.c_void_p).value
        return int(address or 0)

    def close(self) -> None:
        """Destroy the window and terminate GLFW; safe to call twice."""
        if getattr(self, "_window", None) is None:
            return
        self._glfw.destroy_window(self._window)
        self._window = None
        self._glfw.terminate()


def create_binding(kind: str) -> GLBinding:
    """"egl" or "glx" -> a current context with its binding; ValueError naming the choices otherwise."""
    if kind == "egl":
        return EGLBinding()
    if kind == "glx":
        return GLXBinding()
    raise ValueError(f"unknown OpenXR graphics binding {kind!r}; choose 'egl' or 'glx'")


class DepthCopier:
    """Copies a depth texture into another framebuffer's depth with a shader (works across depth formats,
    where glBlitFramebuffer needs identical ones)."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._program = build_program(ctx, "depth_copy.glsl")
        self._vao = ctx.vertex_array(self._program, [])

    def copy(self, source: moderngl.Texture, target: moderngl.Framebuffer) -> None:
        """Write `source`'s depth values into `target`'s depth attachment (same size)."""
        source.compare_func = ""  # sample raw depth, not a shadow comparison
        source.use(0)
        self._program["u_depth"] = 0
        target.use()
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.depth_func = "1"  # always
        target.depth_mask = True
        self._vao.render(moderngl.TRIANGLES, vertices=3)
        self.ctx.depth_func = "<"

    def release(self) -> None:
        """Free the program."""
        self._vao.release()
        self._program.release()
