using Testcontainers.RabbitMq;

namespace Dedup.Testing;

/// <summary>RabbitMQ in a Testcontainers container (its default user, since guest may only connect from loopback).</summary>
internal sealed class ContainerRabbitMq : IRabbitMqBackend
{
    private const string User = "rabbitmq";
    private const string Secret = "rabbitmq";

    private readonly RabbitMqContainer _container;

    private ContainerRabbitMq(RabbitMqContainer container) => _container = container;

    public string Host => _container.Hostname;

    public int Port => _container.GetMappedPublicPort(5672);

    public string Username => User;

    public string Password => Secret;

    /// <summary>Creates and starts the container; Testcontainers waits for "Server startup complete".</summary>
    public static async Task<ContainerRabbitMq> StartAsync(CancellationToken ct)
    {
        var container = new RabbitMqBuilder(ContainerImages.RabbitMq)
            .WithUsername(User)
            .WithPassword(Secret)
            .Build();
        try
        {
            await container.StartAsync(ct);
            return new ContainerRabbitMq(container);
        }
        catch
        {
            await container.DisposeAsync();
            throw;
        }
    }

    public async Task<ProcessResult> CtlAsync(IReadOnlyList<string> args, CancellationToken ct)
    {
        var result = await _container.ExecAsync(["rabbitmqctl", .. args], ct);
        return result.ToProcessResult();
    }

    public ValueTask DisposeAsync() => _container.DisposeAsync();
}
