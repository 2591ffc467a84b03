using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RabbitMQ.Client;

namespace Dedup.Worker.Health;

/// <summary>The broker accepts an AMQP connection (one kept open between checks, recovering by itself).</summary>
internal sealed class RabbitMqHealthCheck : IHealthCheck, IAsyncDisposable
{
    readonly RabbitMqSettings _settings;
    readonly SemaphoreSlim _gate = new(1, 1);
    IConnection? _connection;

    public RabbitMqHealthCheck(RabbitMqSettings settings) => _settings = settings;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_connection is { IsOpen: true })
                return HealthCheckResult.Healthy($"RabbitMQ at {_settings.Describe()} connected.");

            if (_connection is not null)
            {
                await _connection.DisposeAsync();
                _connection = null;
            }

            _connection = await RabbitMqClient.ConnectAsync(_settings, "dedup-worker health check", cancellationToken);
            return HealthCheckResult.Healthy($"RabbitMQ at {_settings.Describe()} connected.");
        }
        catch (StartupCheckException exception)
        {
            return HealthCheckResult.Unhealthy(exception.Message, exception.InnerException);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
            await _connection.DisposeAsync();
        _gate.Dispose();
    }
}
