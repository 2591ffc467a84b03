using System.Net;
using System.Text.Json;
using Dedup.Worker.Settings;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;

namespace Dedup.Worker.Health;

/// <summary>
/// The worker's HTTP endpoint on <c>Worker:Health:Address</c>:<c>Worker:Health:Port</c>: <c>GET /health</c> answers
/// 200 (healthy or degraded) or 503 with the report as JSON; <c>GET /metrics</c> the Prometheus text of the
/// <c>Dedup</c> and <c>MassTransit</c> meters (OpenTelemetry's Prometheus exporter, registered in
/// <see cref="Hosting.Telemetry"/>).
/// </summary>
/// <remarks>
/// A Kestrel of its own, not the worker's host: the worker stays a generic host. Kestrel rather than an
/// <see cref="HttpListener"/> because OpenTelemetry's HttpListener exporter binds one host name (never 0.0.0.0)
/// and answers only requests whose Host header is that name, so a Prometheus in another container could not scrape it.
/// </remarks>
internal static class HealthEndpoint
{
    /// <summary>The path of the health report.</summary>
    public const string HealthPath = "/health";

    /// <summary>The path of the Prometheus scrape.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>Builds (does not start) the endpoint; <paramref name="meterProvider"/> is null when metrics are not collected.</summary>
    public static WebApplication Build(HealthSettings settings, Func<CancellationToken, Task<HealthReport>> check, MeterProvider? meterProvider)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        // The worker's host handles SIGTERM and stops this one; a console lifetime here would hook the same signals.
        builder.Services.AddSingleton<IHostLifetime, NoLifetime>();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Parse(settings.Address), settings.Port));
        var app = builder.Build();
        if (meterProvider is not null)
            app.UseOpenTelemetryPrometheusScrapingEndpoint(meterProvider, predicate: null, path: MetricsPath, configureBranchedPipeline: null, optionsName: null);
        app.Run(context => AnswerAsync(context, check));
        return app;
    }

    static async Task AnswerAsync(HttpContext context, Func<CancellationToken, Task<HealthReport>> check)
    {
        if (!HttpMethods.IsGet(context.Request.Method) || context.Request.Path != HealthPath)
        {
            await WriteAsync(context, StatusCodes.Status404NotFound, new { error = $"GET {HealthPath} or GET {MetricsPath}" });
            return;
        }

        var report = await check(context.RequestAborted);
        await WriteAsync(context, report.Status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK, new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        });
    }

    static Task WriteAsync(HttpContext context, int status, object body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, body, cancellationToken: context.RequestAborted);
    }

    sealed class NoLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
