using System;
using System.Runtime.InteropServices;

namespace Facecast.Transport
{
    /// <summary>P/Invoke declarations for libzmq (4.x C API), with a small loader that tries
    /// the library names platforms ship: "libzmq" (libzmq.dll on Windows, libzmq.dylib on
    /// macOS, libzmq.so where the -dev package is installed) and then "libzmq.so.5" (the only
    /// file Debian/Ubuntu's runtime package libzmq5 installs). Under Mono a dllmap
    /// (&lt;dllmap dll="libzmq" target="libzmq.so.5"/&gt;) works as well.</summary>
    internal static class LibZmqNative
    {
        public const int ZMQ_DEALER = 5;
        public const int ZMQ_RCVMORE = 13;
        public const int ZMQ_LINGER = 17;
        public const int ZMQ_SNDHWM = 23;
        public const int ZMQ_RCVHWM = 24;
        public const int ZMQ_RCVTIMEO = 27;
        public const int ZMQ_DONTWAIT = 1;
        public const int ETERM = 156384712 + 53;  // ZMQ_HAUSNUMERO + 53
        public const int MsgTBytes = 64;           // sizeof(zmq_msg_t)

        private static readonly bool UseSo5 = Resolve();

        /// <summary>True when errno means "try again" (timeout or would block): EAGAIN is 11 on
        /// Linux and Windows builds of libzmq, 35 on macOS; EINTR (4) is treated alike.</summary>
        public static bool IsTryAgain(int errno) { return errno == 11 || errno == 35 || errno == 4; }

        private static bool Resolve()
        {
            int a, b, c;
            try
            {
                Default.zmq_version(out a, out b, out c);
                return false;
            }
            catch (DllNotFoundException) { }
            catch (EntryPointNotFoundException) { }
            try
            {
                So5.zmq_version(out a, out b, out c);
                return true;
            }
            catch (DllNotFoundException)
            {
                throw new DllNotFoundException(
                    "libzmq not found (tried \"libzmq\" and \"libzmq.so.5\"): install libzmq " +
                    "(Debian/Ubuntu: apt-get install libzmq5; macOS: brew install zeromq; Windows: put libzmq.dll " +
                    "beside the player or in Assets/Plugins)");
            }
        }

        public static string Version()
        {
            int a, b, c;
            if (UseSo5) So5.zmq_version(out a, out b, out c); else Default.zmq_version(out a, out b, out c);
            return a + "." + b + "." + c;
        }

        public static IntPtr CtxNew() { return UseSo5 ? So5.zmq_ctx_new() : Default.zmq_ctx_new(); }
        public static int CtxTerm(IntPtr ctx) { return UseSo5 ? So5.zmq_ctx_term(ctx) : Default.zmq_ctx_term(ctx); }
        public static IntPtr Socket(IntPtr ctx, int type) { return UseSo5 ? So5.zmq_socket(ctx, type) : Default.zmq_socket(ctx, type); }
        public static int Close(IntPtr s) { return UseSo5 ? So5.zmq_close(s) : Default.zmq_close(s); }
        public static int Connect(IntPtr s, string ep) { return UseSo5 ? So5.zmq_connect(s, ep) : Default.zmq_connect(s, ep); }
        /// <summary>errno of the last failed call on this thread. On Mono/.NET for Unix the runtime
        /// may clobber errno between the P/Invoke and a zmq_errno() call, so the failing calls are
        /// declared SetLastError and errno is read from Marshal.GetLastWin32Error(); on Windows
        /// libzmq keeps errno in its own C runtime, which zmq_errno() reads.</summary>
        public static int Errno()
        {
            if (Environment.OSVersion.Platform != PlatformID.Win32NT) return Marshal.GetLastWin32Error();
            return UseSo5 ? So5.zmq_errno() : Default.zmq_errno();
        }

        public static string StrError(int errno)
        {
            IntPtr p = UseSo5 ? So5.zmq_strerror(errno) : Default.zmq_strerror(errno);
            return Marshal.PtrToStringAnsi(p);
        }

        public static int SetIntOption(IntPtr s, int option, int value)
        {
            return UseSo5 ? So5.zmq_setsockopt(s, option, ref value, (UIntPtr)4)
                          : Default.zmq_setsockopt(s, option, ref value, (UIntPtr)4);
        }

        public static int Send(IntPtr s, byte[] buf, int len, int flags)
        {
            return UseSo5 ? So5.zmq_send(s, buf, (UIntPtr)len, flags) : Default.zmq_send(s, buf, (UIntPtr)len, flags);
        }

        public static int MsgInit(IntPtr msg) { return UseSo5 ? So5.zmq_msg_init(msg) : Default.zmq_msg_init(msg); }
        public static int MsgRecv(IntPtr msg, IntPtr s, int flags) { return UseSo5 ? So5.zmq_msg_recv(msg, s, flags) : Default.zmq_msg_recv(msg, s, flags); }
        public static IntPtr MsgData(IntPtr msg) { return UseSo5 ? So5.zmq_msg_data(msg) : Default.zmq_msg_data(msg); }
        public static long MsgSize(IntPtr msg) { return (long)(UseSo5 ? So5.zmq_msg_size(msg) : Default.zmq_msg_size(msg)).ToUInt64(); }
        public static int MsgMore(IntPtr msg) { return UseSo5 ? So5.zmq_msg_more(msg) : Default.zmq_msg_more(msg); }
        public static int MsgClose(IntPtr msg) { return UseSo5 ? So5.zmq_msg_close(msg) : Default.zmq_msg_close(msg); }

        private static class Default
        {
            private const string Lib = "libzmq";
            [DllImport(Lib)] public static extern void zmq_version(out int major, out int minor, out int patch);
            [DllImport(Lib)] public static extern IntPtr zmq_ctx_new();
            [DllImport(Lib)] public static extern int zmq_ctx_term(IntPtr ctx);
            [DllImport(Lib)] public static extern IntPtr zmq_socket(IntPtr ctx, int type);
            [DllImport(Lib)] public static extern int zmq_close(IntPtr s);
            [DllImport(Lib, SetLastError = true)] public static extern int zmq_setsockopt(IntPtr s, int option, ref int value, UIntPtr len);
            [DllImport(Lib, CharSet = CharSet.Ansi, SetLastError = true)] public static extern int zmq_connect(IntPtr s, string endpoint);
            [DllImport(Lib, SetLastError = true)] public static extern int zmq_send(IntPtr s, byte[] buf, UIntPtr len, int flags);
            [DllImport(Lib)] public static extern int zmq_msg_init(IntPtr msg);
            [DllImport(Lib, SetLastError = true)] public static extern int zmq_msg_recv(IntPtr msg, IntPtr s, int flags);
            [DllImport(Lib)] public static extern IntPtr zmq_msg_data(IntPtr msg);
            [DllImport(Lib)] public static extern UIntPtr zmq_msg_size(IntPtr msg);
            [DllImport(Lib)] public static extern int zmq_msg_more(IntPtr msg);
            [DllImport(Lib)] public static extern int zmq_msg_close(IntPtr msg);
            [DllImport(Lib)] public static extern int zmq_errno();
            [DllImport(Lib)] public static extern IntPtr zmq_strerror(int errnum);
        }

        private static class So5
        {
            private const string Lib = "libzmq.so.5";
            [DllImport(Lib)] public static extern void zmq_version(out int major, out int minor, out int patch);
            [DllImport(Lib)] public static extern IntPtr zmq_ctx_new();
            [DllImport(Lib)] public static extern int zmq_ctx_term(IntPtr ctx);
            [DllImport(Lib)] public static extern IntPtr zmq_socket(IntPtr ctx, int type);
            [DllImport(Lib)] public static extern int zmq_close(IntPtr s);
            [DllImport(Lib, SetLastError = true)] public static extern int zmq_setsockopt(IntPtr s, int option, ref int value, UIntPtr len);
            [DllImport(Lib, CharSet = CharSet.Ansi, SetLastError = true)] public static extern int zmq_connect(IntPtr s, string endpoint);
            [DllImport(Lib, SetLastError = true)] public static extern int zmq_send(IntPtr s, byte[] buf, UIntPtr len, int flags);
            [DllImport(Lib)] public static extern int zmq_msg_init(IntPtr msg);
            [DllImport(Lib, SetLastError = true)] public static extern int zmq_msg_recv(IntPtr msg, IntPtr s, int flags);
            [DllImport(Lib)] public static extern IntPtr zmq_msg_data(IntPtr msg);
            [DllImport(Lib)] public static extern UIntPtr zmq_msg_size(IntPtr msg);
            [DllImport(Lib)] public static extern int zmq_msg_more(IntPtr msg);
            [DllImport(Lib)] public static extern int zmq_msg_close(IntPtr msg);
            [DllImport(Lib)] public static extern int zmq_errno();
            [DllImport(Lib)] public static extern IntPtr zmq_strerror(int errnum);
        }
    }
}
