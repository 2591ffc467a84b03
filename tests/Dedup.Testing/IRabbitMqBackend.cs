namespace Dedup.Testing;

/// <summary>Where a <see cref="RabbitMqServer"/> actually runs: a local node or a container.</summary>
internal interface IRabbitMqBackend : IAsyncDisposable
{
    /// <summary>The host AMQP clients connect to.</summary>
    string Host { get; }

    /// <summary>The AMQP port.</summary>
    int Port { get; }

    /// <summary>A user that may connect from the test process.</summary>
    string Username { get; }

    /// <summary>That user's password.</summary>
    string Password { get; }

    /// <summary>Runs rabbitmqctl against the node.</summary>
    Task<ProcessResult> CtlAsync(IReadOnlyList<string> args, CancellationToken ct);
}
