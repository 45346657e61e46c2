#pragma once
// Paho MQTT C (1.3.12) reads the proxy from the environment by itself: for every TLS
// connection (ssl:// as well as wss://) getenv("https_proxy") when httpsProxy is NULL, for
// plain ones getenv("http_proxy") (MQTTProtocol_connect in Paho's src/MQTTProtocolOut.c). It
// applies no NO_PROXY and strips only an "https://" prefix from https_proxy, so
// https_proxy=http://p:3128 is looked up as the host "http://p" and every connect fails. azhub
// makes the proxy decision itself (core/proxy.hpp) and hands Paho only that; so before the
// first Paho handle exists these two variables are taken out of this process's environment,
// and given back to the child processes azhub starts (device/subprocess.cpp).
#include <string>
#include <utility>
#include <vector>

namespace azhub::device {

// Removes http_proxy and https_proxy from the environment, once per process, keeping their
// values. Called before Paho's threads exist (MqttConnection's constructor), when nothing
// else reads the environment concurrently.
void withhold_proxy_environment_from_paho();

// The variables withhold_proxy_environment_from_paho removed, with their values.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> withheld_proxy_environment();

}  // namespace azhub::device
