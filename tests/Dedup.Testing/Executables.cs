namespace Dedup.Testing;

/// <summary>Locates the server and client binaries the local servers need.</summary>
internal static class Executables
{
    // Non-root shells often lack the sbin directories on PATH; Debian puts rabbitmq-server there.
    private static readonly string[] ExtraDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>
    /// Returns the full path of the first executable named <paramref name="name"/> in
    /// <paramref name="preferredDirectories"/>, then on PATH, then in the usual system directories; null when none.
    /// </summary>
    public static string? Find(string name, params string[] preferredDirectories)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        var candidates = preferredDirectories
            .Concat(path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            .Concat(ExtraDirectories);

        foreach (var directory in candidates)
        {
            var file = Path.Combine(directory, name);
            if (File.Exists(file) && IsExecutable(file))
            {
                return file;
            }
        }

        return null;
    }

    /// <summary>The message for a missing server binary: what is missing and how to get it.</summary>
    public static string MissingMessage(string binary, string debianPackage) =>
        $"'{binary}' was not found on PATH or in /usr/sbin, /usr/bin. The tests start their own {debianPackage} " +
        "when no Docker engine answers. Run ./test.sh from the repository root (it installs it), or " +
        $"`sudo apt-get install -y --no-install-recommends {debianPackage}`, or start a Docker engine " +
        $"(then Testcontainers is used; {DockerEngine.OverrideVariable}=1 forces it).";

    private static bool IsExecutable(string file)
    {
        if (OperatingSystem.IsWindows())
        {
            return true;
        }

        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        return (File.GetUnixFileMode(file) & anyExecute) != 0;
    }
}
