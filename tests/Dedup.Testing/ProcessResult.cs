namespace Dedup.Testing;

/// <summary>What a finished command printed and how it exited.</summary>
/// <param name="ExitCode">The process exit code.</param>
/// <param name="Stdout">Everything written to standard output.</param>
/// <param name="Stderr">Everything written to standard error.</param>
internal sealed record ProcessResult(int ExitCode, string Stdout, string Stderr);
