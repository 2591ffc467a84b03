using System.Diagnostics;
using System.Globalization;
using Dedup.Testing;
using StackExchange.Redis;

namespace Dedup.Benchmarks;

/// <summary>
/// A <c>redis-server</c> run under valgrind's callgrind that counts the instructions the server executes inside script
/// commands (EVALSHA, EVAL, FCALL and everything they call: the script, the commands it runs, the reply; not the
/// network I/O) for <c>-- scripts --callgrind</c>. Unlike time, the count does not move with the machine's load: the
/// same calls count the same to a few parts in ten thousand, so a script change shows even on a busy 2-core host.
/// </summary>
/// <remarks>
/// Needs valgrind (<c>apt-get install valgrind</c>) and a redis-server whose symbols are not stripped (Debian's is
/// not). The server runs about 50 times slower under callgrind: only the counts mean anything, never its times.
/// </remarks>
public sealed class CallgrindRedis : IAsyncDisposable
{
    static readonly string[] CountedFunctions = ["evalShaCommand", "evalCommand", "fcallCommand"];

    readonly Process _process;
    readonly DirectoryInfo _directory;

    CallgrindRedis(Process process, DirectoryInfo directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    public static async Task<CallgrindRedis> StartAsync()
    {
        var port = FreePort.Next();
        var directory = Directory.CreateTempSubdirectory("dedup-callgrind-");
        var start = new ProcessStartInfo("valgrind") { WorkingDirectory = directory.FullName, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])
            ["--tool=callgrind", .. CountedFunctions.Select(f => "--toggle-collect=" + f), $"--callgrind-out-file={directory.FullName}/callgrind.%p",
             "redis-server", "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", directory.FullName])
            start.ArgumentList.Add(argument);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            directory.Delete(recursive: true);
            throw new InvalidOperationException("-- scripts --callgrind runs redis-server under valgrind, which is not on PATH: install it (apt-get install valgrind), or run -- scripts without --callgrind.", exception);
        }

        var server = new CallgrindRedis(process, directory, port);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitUntilReadyAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sets the server's counters to zero (<c>callgrind_control -z</c>).</summary>
    public Task ZeroAsync() => ControlAsync("-z");

    /// <summary>The instructions counted inside script commands since <see cref="ZeroAsync"/> (<c>callgrind_control -d</c>).</summary>
    public async Task<long> InstructionsAsync()
    {
        await ControlAsync("-d");
        var dump = _directory.GetFiles($"callgrind.{_process.Id}.*").OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault()
            ?? throw new InvalidOperationException($"callgrind wrote no dump in {_directory.FullName}.");
        var totals = File.ReadLines(dump.FullName).FirstOrDefault(l => l.StartsWith("totals:", StringComparison.Ordinal));
        dump.Delete();
        return totals is null ? 0 : long.Parse(totals["totals:".Length..].Trim(), CultureInfo.InvariantCulture);
    }

    async Task ControlAsync(string command)
    {
        var start = new ProcessStartInfo("callgrind_control") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(command);
        start.ArgumentList.Add(_process.Id.ToString(CultureInfo.InvariantCulture));
        using var control = Process.Start(start)!;
        var output = await control.StandardOutput.ReadToEndAsync();
        await control.WaitForExitAsync();
        if (control.ExitCode != 0)
            throw new InvalidOperationException($"callgrind_control {command} {_process.Id} failed ({control.ExitCode}): {output}{await control.StandardError.ReadToEndAsync()}");
    }

    async Task WaitUntilReadyAsync()
    {
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"valgrind redis-server exited with {_process.ExitCode} before it answered.");
            try
            {
                await using var connection = await ConnectionMultiplexer.ConnectAsync(ConnectionString + ",connectTimeout=2000");
                await connection.GetDatabase().PingAsync();
                return;
            }
            catch (RedisConnectionException) when (Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(500);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _directory.Delete(recursive: true);
    }
}
