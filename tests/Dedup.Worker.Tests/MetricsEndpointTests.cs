using System.Globalization;
using System.Net;
using Dedup.Diagnostics;
using Dedup.Testing;
using Dedup.Worker.Contracts;
using Dedup.Worker.Tests.Support;
using MassTransit;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary><c>GET /metrics</c> on the health port: the worker's dedup outcomes and throughput, as Prometheus scrapes them.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class MetricsEndpointTests(WorkerServers servers)
{
    const int Payments = 3;

    [Fact]
    public async Task Metrics_AfterPaymentsAndTheirDuplicates_CountsFirstAndDuplicateOutcomes()
    {
        await using var scope = await servers.NewScopeAsync("metrics");
        using var http = ServeOnFreePort(scope);
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(TimeSpan.FromSeconds(60));

        var payments = Enumerable.Range(1, Payments).Select(i => new ChargePayment(Guid.NewGuid(), i, "EUR")).ToList();
        var ids = payments.Select(p => p.PaymentId.ToString()).ToList();
        var bus = await scope.StartBusAsync();
        try
        {
            var endpoint = await bus.GetSendEndpoint(new Uri("queue:payments"));
            foreach (var payment in payments)
                await endpoint.Send(payment, (SendContext<ChargePayment> c) => c.MessageId = payment.PaymentId);
            await scope.SettledExecutionsAsync(ids, "payments", TimeSpan.FromSeconds(30));
            // The same messages again, once the originals completed: each is a plain duplicate (no wait in flight).
            foreach (var payment in payments)
                await endpoint.Send(payment, (SendContext<ChargePayment> c) => c.MessageId = payment.PaymentId);
        }
        finally
        {
            await bus.StopAsync();
        }

        var outcomes = PrometheusNames.Counter(DedupTelemetry.Messages);
        var outcome = PrometheusNames.Label(DedupTelemetry.OutcomeTag);
        IReadOnlyList<PrometheusSample> samples = [];
        var body = string.Empty;
        await Eventually.UntilAsync(
            async () =>
            {
                body = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
                samples = PrometheusText.Parse(body);
                return samples.Sum(outcomes, (outcome, DedupOutcomes.Duplicate)) >= Payments;
            },
            TimeSpan.FromSeconds(30),
            () => $"{Payments} duplicates counted on /metrics; it answered:\n{body}\nworker output:\n{worker.Output}");

        var executions = await scope.PaymentExecutionsAsync(ids);
        var storeDuration = PrometheusNames.Histogram(DedupTelemetry.StoreDuration, DedupTelemetry.StoreDurationUnit);
        var operation = PrometheusNames.Label(DedupTelemetry.OperationTag);
        var served = samples.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        Assert.Multiple(
            () => Assert.All(executions, n => Assert.Equal(1, n)),
            () => Assert.Equal(Payments, samples.Sum(outcomes, (outcome, DedupOutcomes.First))),
            () => Assert.Equal(Payments, samples.Sum(outcomes, (outcome, DedupOutcomes.Duplicate))),
            () => Assert.Equal(0, samples.Sum(outcomes, (outcome, DedupOutcomes.InFlightWaited))),
            () => Assert.Equal(2 * Payments, samples.Sum(storeDuration + "_count", (operation, "claim"))), // originals and copies
            () => Assert.Equal(2 * Payments, samples.Sum(PrometheusNames.Counter(PrometheusNames.MassTransitConsume, PrometheusNames.MassTransitCounterUnit))),
            () => Assert.True(samples.Sum(PrometheusNames.Counter(PrometheusNames.MassTransitReceive, PrometheusNames.MassTransitCounterUnit)) >= 2 * Payments, body),
            // The names the dashboard test accepts are the exporter's real ones (store errors need a failure to appear) ...
            () => Assert.Subset(served, PrometheusNames.Emitted.Where(n => n != PrometheusNames.Counter(DedupTelemetry.StoreErrors)).ToHashSet()),
            // ... and it accepts every dedup series the worker serves.
            () => Assert.All(served.Where(n => n.StartsWith("dedup_", StringComparison.Ordinal)), n => Assert.Contains(n, PrometheusNames.Emitted)));
    }

    [Fact]
    public async Task Health_OnTheMetricsPortWithTheContainersSettings_StillAnswersTheReport()
    {
        await using var scope = await servers.NewScopeAsync("metrics-health");
        using var http = ServeOnFreePort(scope);
        // deploy/Dockerfile binds every interface; its ASP.NET Core base image names the same port for Kestrel.
        scope.Environment["Worker__Health__Address"] = "0.0.0.0";
        scope.Environment["ASPNETCORE_HTTP_PORTS"] = http.BaseAddress!.Port.ToString(CultureInfo.InvariantCulture);
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(TimeSpan.FromSeconds(60));

        using var health = await http.GetAsync(new Uri("/health", UriKind.Relative));
        var report = await health.Content.ReadAsStringAsync();
        using var other = await http.GetAsync(new Uri("/other", UriKind.Relative));
        Assert.Multiple(
            () => Assert.Equal(HttpStatusCode.OK, health.StatusCode),
            () => Assert.Contains("\"redis\"", report, StringComparison.Ordinal),
            () => Assert.Equal(HttpStatusCode.NotFound, other.StatusCode));
    }

    /// <summary>Sets the worker's health port to a free one and returns a client for it.</summary>
    static HttpClient ServeOnFreePort(WorkerScope scope)
    {
        var port = FreePort.Next();
        scope.Environment["Worker__Health__Port"] = port.ToString(CultureInfo.InvariantCulture);
        return new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }
}
