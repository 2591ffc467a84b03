using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Dedup.Worker.Tests.Servers;

/// <summary>Finding and starting the local server binaries.</summary>
internal static class Binaries
{
    public static string Find(string name, string debianPackage, params string[] preferred)
    {
        var directories = preferred.Concat((Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':'))
            .Concat(["/usr/sbin", "/usr/bin", "/usr/local/bin"]);
        return directories.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists)
               ?? throw new InvalidOperationException($"{name} is not installed; install it with 'apt-get install -y {debianPackage}' (./test.sh does).");
    }

    public static Process Start(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            startInfo.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
            startInfo.Environment[key] = value;
        return Process.Start(startInfo) ?? throw new InvalidOperationException($"{fileName} did not start.");
    }

    /// <summary>Starts a long-running server whose output is read and dropped, so a full pipe never blocks it.</summary>
    public static Process StartServer(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?>? environment)
    {
        var process = Start(fileName, arguments, environment);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public static async Task KillAsync(Process process)
    {
        try
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
        }

        process.Dispose();
    }

    public static int FreePort() => FreePorts(1)[0];

    public static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }
}
