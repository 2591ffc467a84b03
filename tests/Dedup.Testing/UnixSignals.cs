using System.ComponentModel;
using System.Runtime.InteropServices;

namespace Dedup.Testing;

/// <summary>Sends POSIX signals to processes this library started (Linux signal numbers).</summary>
internal static partial class UnixSignals
{
    /// <summary>SIGCONT: resume a stopped process.</summary>
    public const int Continue = 18;

    /// <summary>SIGSTOP: stop (freeze) a process; it cannot be caught.</summary>
    public const int Stop = 19;

    /// <summary>Sends <paramref name="signal"/> to process <paramref name="pid"/>.</summary>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    /// <exception cref="Win32Exception">kill(2) failed (for example: no such process).</exception>
    public static void Send(int pid, int signal)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("Pausing a local server process needs Linux signals (SIGSTOP/SIGCONT).");
        }

        if (Kill(pid, signal) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new Win32Exception(errno, $"kill({pid}, {signal}) failed with errno {errno}.");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
