using DotNet.Testcontainers.Containers;

namespace Dedup.Testing;

/// <summary>Turns a container exec result into the same shape a local command run has.</summary>
internal static class ContainerExec
{
    /// <summary>Docker reports no exit code for an exec it lost track of; that counts as a failure (-1).</summary>
    public static ProcessResult ToProcessResult(this ExecResult result) =>
        new(result.ExitCode is { } code ? (int)code : -1, result.Stdout, result.Stderr);
}
