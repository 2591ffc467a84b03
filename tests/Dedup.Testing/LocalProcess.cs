using System.Collections.Concurrent;
using System.Diagnostics;

namespace Dedup.Testing;

/// <summary>
/// A long-running child process (a server) that this library started and owns: its output is kept for error
/// messages, and it is killed with all its children on dispose, or when the test host exits without disposing it.
/// </summary>
internal sealed class LocalProcess : IAsyncDisposable
{
    private static readonly ConcurrentDictionary<LocalProcess, byte> Running = new();

    private readonly Process _process;
    private Task _exited = Task.CompletedTask;

    static LocalProcess()
    {
        // Safety net for a test run that ends without disposing its fixtures: leave no server behind.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var process in Running.Keys)
            {
                process.KillTree();
            }
        };
    }

    private LocalProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    /// <summary>A short name for messages ("redis-server", "epmd", ...).</summary>
    public string Name { get; }

    /// <summary>The operating-system process id.</summary>
    public int Id => _process.Id;

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _exited.IsCompleted;

    /// <summary>Completes when the process exits.</summary>
    public Task Exited => _exited;

    /// <summary>The exit code, or null while running.</summary>
    public int? ExitCode => HasExited ? _process.ExitCode : null;

    /// <summary>The last lines it wrote to standard output and standard error.</summary>
    public OutputTail Output { get; } = new();

    /// <summary>Starts <paramref name="fileName"/> with its standard streams redirected (output is drained).</summary>
    /// <param name="fileName">The executable.</param>
    /// <param name="arguments">Arguments, passed as they are (no shell).</param>
    /// <param name="environment">Variables to set (a null value removes one).</param>
    /// <param name="workingDirectory">The working directory.</param>
    public static LocalProcess Start(
        string fileName,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string?>? environment = null,
        string? workingDirectory = null)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (environment is not null)
        {
            foreach (var (name, value) in environment)
            {
                startInfo.Environment[name] = value;
            }
        }

        var process = new Process { StartInfo = startInfo };
        var owned = new LocalProcess(process, Path.GetFileName(fileName));
        process.OutputDataReceived += (_, e) => owned.Output.Add(e.Data);
        process.ErrorDataReceived += (_, e) => owned.Output.Add(e.Data);
        process.Start();
        owned._exited = process.WaitForExitAsync(); // only meaningful once started
        Running.TryAdd(owned, 0);
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return owned;
    }

    /// <summary>Sends a POSIX signal (see <see cref="UnixSignals"/>).</summary>
    public void Signal(int signal) => UnixSignals.Send(Id, signal);

    /// <summary>Waits up to <paramref name="timeout"/> for the process to exit; true when it did.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout, CancellationToken ct)
    {
        var finished = await Task.WhenAny(_exited, Task.Delay(timeout, ct));
        ct.ThrowIfCancellationRequested();
        return finished == _exited;
    }

    /// <summary>Kills the process and all its children, and waits (up to 10 s) for it to exit.</summary>
    public async Task KillAsync()
    {
        KillTree();
        await WaitForExitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        Running.TryRemove(this, out _);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private void KillTree()
    {
        try
        {
            if (!_process.HasExited)
            {
                // A stopped (SIGSTOP) process still dies on SIGKILL.
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Exited meanwhile, or a child that is not ours any more.
        }
    }
}
