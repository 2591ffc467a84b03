using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Dedup.Worker.Tests.Support;

/// <summary>
/// The built worker (<c>src/Worker/bin/&lt;configuration&gt;/net10.0/Dedup.Worker.dll</c>) as a separate process, with
/// its settings in environment variables, its output kept, and events for "started" (log event 1008) and exit.
/// </summary>
internal sealed partial class WorkerProcess : IAsyncDisposable
{
    const int SigTerm = 15;

    readonly Process _process;
    readonly ConcurrentQueue<string> _output = new();
    readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    WorkerProcess(Process process) => _process = process;

    public int Id => _process.Id;

    public string Output => string.Join('\n', _output);

    public int ExitCode => _process.ExitCode;

    /// <summary>The worker's published entry point, built with this test project.</summary>
    public static string Path
    {
        get
        {
            var configuration = typeof(WorkerProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
            var root = new DirectoryInfo(AppContext.BaseDirectory);
            while (root is not null && !File.Exists(System.IO.Path.Combine(root.FullName, "Dedup.sln")))
                root = root.Parent;
            var path = System.IO.Path.Combine(root?.FullName ?? ".", "src", "Worker", "bin", configuration, "net10.0", "Dedup.Worker.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"The worker is not built at {path}; build tests/Dedup.Worker.Tests (it references src/Worker).");
        }
    }

    /// <summary>Starts <c>dotnet Dedup.Worker.dll [args]</c> with <paramref name="environment"/> on top of the test's own.</summary>
    public static WorkerProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var startInfo = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add(Path);
        foreach (var arg in args)
            startInfo.ArgumentList.Add(arg);

        startInfo.Environment["DOTNET_ENVIRONMENT"] = "Production";
        startInfo.Environment["Logging__Console__FormatterName"] = "simple";
        startInfo.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        foreach (var (key, value) in environment)
            startInfo.Environment[key] = value;

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        var worker = new WorkerProcess(process);
        process.OutputDataReceived += (_, e) => worker.Line(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Line(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // Completes once the process exited and both output streams were read to their end.
        _ = process.WaitForExitAsync().ContinueWith(_ => worker._exited.TrySetResult(), TaskScheduler.Default);
        return worker;
    }

    /// <summary>Runs a command to its end and returns the exit code (the output stays in <see cref="Output"/>).</summary>
    public static async Task<WorkerProcess> RunAsync(IReadOnlyDictionary<string, string> environment, TimeSpan timeout, params string[] args)
    {
        var worker = Start(environment, args);
        await worker.WaitForExitAsync(timeout);
        return worker;
    }

    /// <summary>Completes when the worker logged that it started (its bus is consuming); throws if it exits first.</summary>
    public async Task WaitStartedAsync(TimeSpan timeout)
    {
        var first = await Task.WhenAny(_started.Task, _exited.Task).WaitAsync(timeout);
        if (first == _exited.Task)
            throw new InvalidOperationException($"The worker exited with {_process.ExitCode} before it started:\n{Output}");
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _exited.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The worker did not exit within {timeout}:\n{Output}");
        }
    }

    /// <summary>Sends SIGTERM, as <c>docker stop</c> does.</summary>
    public void Terminate()
    {
        if (Kill(_process.Id, SigTerm) != 0)
            throw new InvalidOperationException($"kill({_process.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_exited.Task.IsCompleted)
        {
            _process.Kill(entireProcessTree: true);
            await _exited.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
    }

    void Line(string? line)
    {
        if (line is null)
            return;

        _output.Enqueue(line);
        if (line.Contains("[1008] Worker started", StringComparison.Ordinal))
            _started.TrySetResult();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
