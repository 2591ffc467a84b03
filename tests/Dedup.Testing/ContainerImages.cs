namespace Dedup.Testing;

/// <summary>
/// The Docker images used when a Docker engine answers; the same major/minor versions Debian 12 ships, so both
/// ways test the same servers. Override with DEDUP_TEST_REDIS_IMAGE / DEDUP_TEST_RABBITMQ_IMAGE.
/// </summary>
internal static class ContainerImages
{
    /// <summary>The Redis image (Debian 12: redis-server 7.0).</summary>
    public static string Redis => Environment.GetEnvironmentVariable("DEDUP_TEST_REDIS_IMAGE") ?? "redis:7.0";

    /// <summary>The RabbitMQ image (Debian 12: rabbitmq-server 3.10).</summary>
    public static string RabbitMq => Environment.GetEnvironmentVariable("DEDUP_TEST_RABBITMQ_IMAGE") ?? "rabbitmq:3.10";
}
