namespace Dedup.Testing;

/// <summary>
/// Decides once per test run whether the servers run in Docker (Testcontainers) or as local processes.
/// </summary>
/// <remarks>
/// <c>DEDUP_TEST_USE_DOCKER=0</c> (or <c>false</c>) forces local processes and <c>1</c> (or <c>true</c>) forces
/// Docker; otherwise Docker is used when <c>docker info</c> exits 0 within a few seconds.
/// </remarks>
internal static class DockerEngine
{
    /// <summary>The environment variable that overrides the probe.</summary>
    public const string OverrideVariable = "DEDUP_TEST_USE_DOCKER";

    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    private static readonly Lazy<Task<bool>> Available = new(ProbeAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when the servers should run in Docker containers.</summary>
    public static Task<bool> IsAvailableAsync() => Available.Value;

    private static async Task<bool> ProbeAsync()
    {
        var forced = Environment.GetEnvironmentVariable(OverrideVariable)?.Trim();
        if (forced is "0" || string.Equals(forced, "false", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (forced is "1" || string.Equals(forced, "true", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var docker = Executables.Find("docker");
        if (docker is null)
        {
            return false;
        }

        try
        {
            var result = await ProcessRunner.RunAsync(
                docker, ["info", "--format", "{{.ServerVersion}}"], environment: null, ProbeTimeout, CancellationToken.None);
            return result.ExitCode == 0;
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
