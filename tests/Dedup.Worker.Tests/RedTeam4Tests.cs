using System.Globalization;
using System.Net;
using Dedup.Testing;
using Dedup.Worker.Tests.Support;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// Red team 4: the worker's health and metrics endpoint (README "Configuration": <c>Worker__Health__Port</c>,
/// <c>Worker__Health__Address</c>; "Worker": <c>dotnet Dedup.Worker.dll health</c>, "probe a running worker (the
/// container's health check)"). Tests whose name ends in <c>_Holds</c> pin a promise that held; the others fail.
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class RedTeam4Tests(WorkerServers servers)
{
    // Broken promise (README, "Worker": `dotnet Dedup.Worker.dll health` probes a running worker, reading the worker's own
    // configuration; "Configuration": Worker__Health__Address is "the address that port binds", any IP address). The
    // worker binds Worker:Health:Address, but HealthCommand always asks http://127.0.0.1:<port>/health and ignores the
    // address: a worker bound to another address (here 127.0.0.2, a loopback address on Linux; in a container or on a
    // host, the interface's own IP or ::1) answers 200 on /health, yet its health probe, run with the very same settings,
    // exits 1 ("No answer from http://127.0.0.1:..."), so the container's health check calls a healthy worker unhealthy.
    // To see it: run this test; the first assertion passes (the endpoint answers), the probe's exit code is 1, not 0.
    [Fact]
    public async Task HealthCommand_WithTheWorkersSettings_ProbesTheAddressTheWorkerBinds()
    {
        await using var scope = await servers.NewScopeAsync("rt4-health");
        var port = FreePort.Next();
        scope.Environment["Worker__Health__Port"] = port.ToString(CultureInfo.InvariantCulture);
        scope.Environment["Worker__Health__Address"] = "127.0.0.2";
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(TimeSpan.FromSeconds(60));

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.2:{port}") };
        using var direct = await http.GetAsync(new Uri("/health", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, direct.StatusCode);

        await using var probe = await WorkerProcess.RunAsync(scope.Environment, TimeSpan.FromSeconds(30), "health");
        Assert.True(probe.ExitCode == 0, $"the health probe exited {probe.ExitCode}:\n{probe.Output}");
    }

    // Suspected by red team 4, confirmed here: the health endpoint's hosted service was registered after MassTransit's,
    // so with its port taken the bus had already started taking messages when the start failed (exit 3), and what it
    // claimed stayed held until the lease ran out. The endpoint now binds before the bus starts.
    [Fact]
    public async Task HealthPortTaken_TheWorkerStopsBeforeTheBusStarts()
    {
        await using var scope = await servers.NewScopeAsync("rt4-port");
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        scope.Environment["Worker__Health__Port"] = ((IPEndPoint)taken.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);

        await using var worker = await WorkerProcess.RunAsync(scope.Environment, TimeSpan.FromSeconds(60));

        Assert.True(worker.ExitCode == 3, $"exit {worker.ExitCode}:\n{worker.Output}");
        Assert.Contains("address already in use", worker.Output, StringComparison.OrdinalIgnoreCase);
        var queues = await scope.ListQueuesAsync();
        Assert.False(queues.ContainsKey("payments"), $"the bus started (queues: {string.Join(", ", queues.Keys)})");
    }
}
