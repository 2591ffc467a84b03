using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Dedup.Reliability.Tests;

/// <summary>
/// A worker process with settings in its environment; every output line is kept. A worker given any <c>Worker__Faults__</c>
/// setting runs the test host (<c>dotnet Dedup.Reliability.Host.dll</c>: the worker with its test-only fault hooks); any
/// other runs the production worker (<c>dotnet Dedup.Worker.dll</c>), which has no hooks and would ignore the setting.
/// </summary>
public sealed partial class WorkerProcess : IAsyncDisposable
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigCont = 18;
    public const int SigStop = 19;

    readonly Process _process;
    readonly ConcurrentQueue<string> _lines = new();
    readonly Task _exited;

    WorkerProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        process.Start();
        _exited = process.WaitForExitAsync();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _exited.IsCompleted;

    public int? ExitCode => HasExited ? _process.ExitCode : null;

    public string Output => string.Join('\n', _lines);

    public int Count(string text) => _lines.Count(l => l.Contains(text, StringComparison.Ordinal));

    public static WorkerProcess Start(string name, IReadOnlyDictionary<string, string> environment)
    {
        var dll = environment.Keys.Any(k => k.StartsWith(FaultSettingPrefix, StringComparison.Ordinal)) ? HostDll : WorkerDll;
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.ArgumentList.Add(dll);
        foreach (var (key, value) in environment)
            start.Environment[key] = value;
        return new WorkerProcess(name, new Process { StartInfo = start });
    }

    /// <summary>The settings of the test-only fault hooks (section <c>Worker:Faults</c>), as environment variables.</summary>
    public const string FaultSettingPrefix = "Worker__Faults__";

    /// <summary>The built worker for this test's configuration: src/Worker/bin/&lt;Debug|Release&gt;/net10.0/Dedup.Worker.dll.</summary>
    public static string WorkerDll { get; } = Find(Path.Combine("src", "Worker"), "Dedup.Worker.dll");

    /// <summary>The built test host with the fault hooks: tests/Dedup.Reliability.Host/bin/&lt;Debug|Release&gt;/net10.0/Dedup.Reliability.Host.dll.</summary>
    public static string HostDll { get; } = Find(Path.Combine("tests", "Dedup.Reliability.Host"), "Dedup.Reliability.Host.dll");

    static string Find(string project, string dll)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/')).Parent?.Name ?? "Release"; // bin/<configuration>/net10.0/
        var path = Path.Combine(Repository.Root, project, "bin", configuration, "net10.0", dll);
        if (!File.Exists(path))
            throw new InvalidOperationException($"{dll} is not built at {path}; build tests/Dedup.Reliability.Tests (it builds {project} first).");
        return path;
    }

    public void Signal(int signal)
    {
        if (Kill(Id, signal) != 0)
            throw new InvalidOperationException($"kill({Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        var done = await Task.WhenAny(_exited, Task.Delay(timeout));
        return done == _exited;
    }

    /// <summary>Waits until a line containing <paramref name="text"/> was printed.</summary>
    public async Task<bool> WaitForLineAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Count(text) > 0)
                return true;
            if (HasExited)
                return Count(text) > 0;
            await Task.Delay(50);
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                Kill(Id, SigCont);
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
        }

        await WaitForExitAsync(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}

/// <summary>The repository root: the nearest directory up from the test's output that holds Dedup.sln.</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Dedup.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException($"No Dedup.sln above {AppContext.BaseDirectory}.");
    }
}
