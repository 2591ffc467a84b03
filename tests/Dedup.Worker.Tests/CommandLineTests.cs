using Dedup.Worker.Tests.Support;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// The command line (System.CommandLine) as a user meets it, through the built worker: help, a wrong option or value
/// (exit code 64, the option named), and <c>--Section:Key=value</c> settings reaching configuration. No server needed.
/// </summary>
public sealed class CommandLineTests
{
    static readonly TimeSpan Exit = TimeSpan.FromSeconds(60);
    static readonly Dictionary<string, string> NoEnvironment = [];

    [Fact]
    public async Task Help_ListsEveryCommandAndTheExitCodes_AndExits0()
    {
        await using var help = await WorkerProcess.RunAsync(NoEnvironment, Exit, "--help");

        Assert.True(help.ExitCode == 0, help.Output);
        Assert.Contains("Usage:", help.Output, StringComparison.Ordinal);
        foreach (var command in new[] { "demo", "traffic", "health" })
            Assert.Matches($@"(?m)^\s+{command}\s", help.Output);
        Assert.Contains("64 a wrong command line", help.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("demo", new[] { "--payments", "--requests", "--external-share", "--dup-share", "--concurrent-share", "--conflicts", "--concurrency", "--seed", "--timeout" })]
    [InlineData("traffic", new[] { "--count", "--requests", "--external-share", "--dup-share", "--concurrent-share", "--concurrency", "--rate", "--seed", "--timeout" })]
    public async Task CommandHelp_ListsEveryOption_AndExits0(string command, string[] options)
    {
        await using var help = await WorkerProcess.RunAsync(NoEnvironment, Exit, command, "--help");

        Assert.True(help.ExitCode == 0, help.Output);
        foreach (var option in options)
            Assert.Matches($@"(?m)^\s+{option} <", help.Output);
    }

    [Fact]
    public async Task DemoHelp_ShowsTheDefaults()
    {
        await using var help = await WorkerProcess.RunAsync(NoEnvironment, Exit, "demo", "--help");

        Assert.Matches(@"(?m)^\s+--payments <N>\s.*\[default: 2000\]$", help.Output);
        Assert.Matches(@"(?m)^\s+--dup-share <X>\s.*\[default: 0\.3\]$", help.Output);
        Assert.Matches(@"(?m)^\s+--timeout <SECONDS>\s.*\[default: 50\]$", help.Output);
    }

    [Fact]
    public async Task UnknownOption_ExitsWith64_NamingIt()
    {
        await using var demo = await WorkerProcess.RunAsync(NoEnvironment, Exit, "demo", "--paymnets", "10");

        Assert.Equal(64, demo.ExitCode);
        Assert.Contains("Unrecognized option '--paymnets'", demo.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("summary:", demo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownCommand_ExitsWith64_NamingIt()
    {
        await using var worker = await WorkerProcess.RunAsync(NoEnvironment, Exit, "dmeo");

        Assert.Equal(64, worker.ExitCode);
        Assert.Contains("Unrecognized command or argument 'dmeo'", worker.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--payments", "-1", "--payments must be a whole number from 0 to 1000000; it is '-1'.")]
    [InlineData("--payments", "many", "--payments must be a whole number from 0 to 1000000; it is 'many'.")]
    [InlineData("--dup-share", "1.5", "--dup-share must be a number from 0 to 1; it is '1.5'.")]
    [InlineData("--timeout", "0", "--timeout must be a whole number from 1 to 3600; it is '0'.")]
    public async Task ValueOutOfRange_ExitsWith64_NamingTheOptionAndTheRange(string option, string value, string message)
    {
        await using var demo = await WorkerProcess.RunAsync(NoEnvironment, Exit, "demo", option, value);

        Assert.Equal(64, demo.ExitCode);
        Assert.Contains(message, demo.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SettingWithoutValue_ExitsWith64_NamingIt()
    {
        await using var demo = await WorkerProcess.RunAsync(NoEnvironment, Exit, "demo", "--Dedup:Lease");

        Assert.Equal(64, demo.ExitCode);
        Assert.Contains("The setting '--Dedup:Lease' has no value", demo.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--Dedup:Lease=00:00:00.010")]
    [InlineData("--Dedup:Lease", "00:00:00.010")]
    [InlineData("/Dedup:Lease=00:00:00.010")]
    public async Task SettingArgument_ReachesConfiguration(params string[] setting)
    {
        // A lease that short is refused at start: exit 2 naming it shows the argument was read as the setting.
        await using var demo = await WorkerProcess.RunAsync(NoEnvironment, Exit, ["demo", "--payments", "10", .. setting]);

        Assert.Equal(2, demo.ExitCode);
        Assert.Contains("Dedup:Lease must be between", demo.Output, StringComparison.Ordinal);
    }
}
